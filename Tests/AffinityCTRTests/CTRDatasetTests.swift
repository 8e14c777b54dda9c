import AffinityCTR
import AffinityCore
import Testing

@Suite("CTR datasets and features")
struct CTRDatasetTests {
  static func tables() throws -> (FeatureTable<UserID>, FeatureTable<ItemID>) {
    let users = try FeatureTable<UserID>(
      ids: IDVocabulary(["u1", "u2"]),
      columns: [
        .init(name: "age", kind: .numeric, values: [.number(23), .number(40)]),
        .init(name: "occupation", kind: .categorical, values: [.category("writer"), .category("doctor")]),
        .init(name: "name", kind: .categorical, values: [.category("Ann"), .category("Bo")]),
      ], source: "users")
    let items = try FeatureTable<ItemID>(
      ids: IDVocabulary(["i1", "i2"]),
      columns: [
        .init(name: "genres", kind: .multiLabel, values: [.labels(["Drama", "Comedy"]), .labels(["War"])]),
        .init(name: "year", kind: .numeric, values: [.number(1995), .number(2003)]),
        .init(name: "name", kind: .categorical, values: [.category("Heat"), .category("Up")]),
      ], source: "items")
    return (users, items)
  }

  @Test func featurizerNamesOneFieldPerColumn() throws {
    let (users, items) = try Self.tables()
    let featurizer = try CTRFeaturizer(
      userTable: users, userColumns: ["age", "occupation"], itemTable: items, itemColumns: ["genres", "year"])
    let features = featurizer.features(user: "u1", item: "i1")
    let half = 1 / Float(2).squareRoot()
    #expect(
      features == [
        .category("user", "u1"), .category("age", "18-24"), .category("occupation", "writer"),
        .category("item", "i1"), .category("genres", "Comedy", value: half), .category("genres", "Drama", value: half),
        .category("year", "1990s"),
      ])
  }

  @Test func clashingColumnNamesGetASidePrefix() throws {
    let (users, items) = try Self.tables()
    let featurizer = try CTRFeaturizer(userTable: users, userColumns: ["name"], itemTable: items, itemColumns: ["name"])
    #expect(
      featurizer.features(user: "u2", item: "i2") == [
        .category("user", "u2"), CTRFeature(field: "user.name", name: "user.name=Bo"), .category("item", "i2"),
        CTRFeature(field: "item.name", name: "item.name=Up"),
      ])
  }

  @Test func trainingRowsAreLabelledByThreshold() throws {
    let data = try InteractionData([
      Interaction(user: "u1", item: "i1", value: 5), Interaction(user: "u2", item: "i1", value: 3),
      Interaction(user: "u1", item: "i2", value: 4),
    ])
    let set = try CTRFeaturizer(positiveThreshold: 4).trainingSet(data)
    #expect(set.labels == [1, 0, 1])
    #expect(set.vocabulary.fieldNames == ["user", "item"])
    #expect(set.vocabulary.featureNames == ["user=u1", "item=i1", "user=u2", "item=i2"])
    #expect(Array(set[2].features) == [0, 3])
    #expect(Array(set[2].fields) == [0, 1])
    #expect(set.unseenFeatureCount == 0)
  }

  @Test func testRowsDropAndCountUnseenFeatures() throws {
    let (users, items) = try Self.tables()
    let featurizer = try CTRFeaturizer(
      userTable: users, userColumns: ["age", "occupation"], itemTable: items, itemColumns: ["genres", "year"])
    let train = try featurizer.trainingSet(try InteractionData([Interaction(user: "u1", item: "i1", value: 5)]))
    // u2 (id, age 35-44, doctor) and i2 (id, War, 2000s) are all new: 7 features dropped, and
    // the unknown user "u9" without a feature row loses only its id.
    let test = featurizer.testSet(
      try InteractionData([
        Interaction(user: "u2", item: "i2", value: 1), Interaction(user: "u9", item: "i1", value: 4),
      ]), vocabulary: train.vocabulary)
    #expect(test.unseenFeatureCount == 7)
    #expect(test.count == 2)
    #expect(test.range(ofRow: 0).isEmpty)
    #expect(test[1].features.count == 4)  // item=i1, genres=Comedy, genres=Drama, year=1990s
    #expect(test.vocabulary == train.vocabulary)
  }

  @Test func builderRejectsAFeatureNameInTwoFieldsAndNonFiniteValues() throws {
    var builder = CTRDataset.Builder(source: "rows")
    try builder.append(label: true, features: [CTRFeature(field: "a", name: "x")])
    let error = #expect(throws: DataError.self) {
      try builder.append(label: false, features: [CTRFeature(field: "b", name: "x")])
    }
    #expect(
      error?.description
        == "rows:2 field 'b': 'x' is not a feature name used in one field only (it was first seen in another field); fix or remove that row"
    )
    #expect(throws: DataError.self) {
      try builder.append(label: false, features: [CTRFeature(field: "a", name: "y", value: .nan)])
    }
  }

  @Test func mappingOntoAnotherVocabularyGoesByName() throws {
    var first = CTRDataset.Builder(source: "a")
    try first.append(label: true, features: [.category("f", "1"), .category("g", "2")])
    var second = CTRDataset.Builder(source: "b")
    try second.append(label: false, features: [.category("g", "2"), .category("g", "3"), .category("f", "1")])
    let mapped = second.build().mapped(onto: first.build().vocabulary)
    #expect(Array(mapped[0].features) == [1, 0])
    #expect(Array(mapped[0].fields) == [1, 0])
    #expect(mapped.unseenFeatureCount == 1)
  }
}
