import AffinityCore
import AffinityLinalg
import AffinityTestSupport
import Testing

@Suite("Reading interaction files")
struct ReaderTests {
  func read(_ text: String, _ reader: InteractionReader = InteractionReader()) throws(DataError) -> InteractionData {
    try reader.read(DelimitedText(path: "ratings.txt", text: text))
  }

  @Test func readsGroupLensUData() throws {
    let data = try read("196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n")
    #expect(data.count == 3)
    #expect(data.users.ids == ["196", "186"])
    #expect(data.items.count == 3)
    #expect(data.values == [3, 3, 1])
    #expect(data.timestamps[0] == 881_250_949)
  }

  @Test func readsWhitespaceSeparatedRowsAndCRLF() throws {
    let data = try read("1 10 4.5 100\r\n2  11 2 200\r\n")
    #expect(data.values == [4.5, 2])
    #expect(data.items.ids == ["10", "11"])
  }

  @Test func readsRecBoleAtomicFiles() throws {
    let data = try read("user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t5\t4\t10\n2\t5\t2\t11\n")
    #expect(data.count == 2)
    #expect(data.items.ids == ["5"])
    #expect(data.timestamps == [10, 11])
  }

  @Test func readsCSVWithNamedColumnsInAnyOrder() throws {
    let text = "timestamp,movieId,userId,rating\n5,m1,alice,4\n6,m2,bob,3.5\n"
    let data = try read(text)
    #expect(data.users.ids == ["alice", "bob"])
    #expect(data.values == [4, 3.5])
    let custom = try read("who;what;stars\na;x;2\n", InteractionReader(columns: .init(user: "who", item: "what", rating: "stars")))
    #expect(custom.values == [2])
  }

  @Test func implicitFilesGetTheDefaultValue() throws {
    let data = try read("u1,i1\nu1,i2\n")
    #expect(data.values == [1, 1])
  }

  @Test func rejectsAnEmptyFile() {
    #expect(throws: DataError.empty(source: "ratings.txt")) { try read("\n  \n") }
  }

  @Test func namesTheLineOfAShortRow() {
    #expect(
      throws: DataError.shortRow(
        SourceLocation(file: "ratings.txt", line: 2), expected: 4, found: 2,
        fix: "rows need 'user item rating [timestamp]' separated by tab")
    ) { try read("1\t2\t3\t4\n5\t6\n") }
  }

  @Test func namesTheFieldOfANonNumericRating() throws {
    do {
      _ = try read("1\t2\t3\t4\n1\t3\tfive\t5\n")
      Issue.record("a non-numeric rating must be rejected")
    } catch {
      #expect(error == .invalidValue(SourceLocation(file: "ratings.txt", line: 2, field: "rating"), value: "five", expected: "a number"))
      #expect(error.description == "ratings.txt:2 field 'rating': 'five' is not a number; fix or remove that row")
    }
  }

  @Test func rejectsADuplicateHeader() {
    #expect(throws: DataError.duplicateHeader(file: "ratings.txt", column: "user")) {
      try read("user,item,user\n1,2,3\n")
    }
  }

  @Test func listsTheColumnsWhenOneIsMissing() {
    #expect(throws: DataError.missingColumn(file: "ratings.txt", column: "who", available: ["user", "item", "rating"])) {
      try read("user,item,rating\n1,2,3\n", InteractionReader(columns: .init(user: "who")))
    }
  }

  @Test func reportsAMissingFileWithItsPath() {
    #expect(throws: DataError.unreadable(file: "/nonexistent/ratings.tsv", reason: "no such file; check the path")) {
      try InteractionReader().read("/nonexistent/ratings.tsv")
    }
  }

  @Test(.tags(.realData), RealData.required(RealData.movieLensInteractions))
  func readsMovieLens100k() throws {
    let data = try InteractionReader().read(RealData.movieLensInteractions)
    #expect(data.count == 100_000)
    #expect(data.users.count == 943)
    #expect(data.items.count == 1_682)
    #expect(data.valueRange == 1...5)
  }
}

@Suite("Ids and sparse storage")
struct DataStructureTests {
  @Test func vocabularyKeepsFirstAppearanceOrder() {
    var vocabulary = IDVocabulary<ItemID>(["b", "a", "b", "c"])
    #expect(vocabulary.ids == ["b", "a", "c"])
    #expect(vocabulary.index(of: "c") == 2)
    #expect(vocabulary.index(of: "zzz") == nil)
    #expect(vocabulary.insert("d") == 3)
  }

  @Test func byItemIsTheTransposeOfByUser() throws {
    let data = try Fixtures.tinyRatings()
    #expect(data.byUser.nonZeroCount == 6)
    for u in 0..<data.users.count {
      for p in data.byUser.range(ofRow: u) {
        let i = Int(data.byUser.columns[p])
        let back = data.byItem.range(ofRow: i).first { Int(data.byItem.columns[$0]) == u }
        #expect(back.map { data.byItem.values[$0] } == data.byUser.values[p])
      }
    }
    // The interaction behind each byUser position has that position's user, item and value.
    let order = data.interactionIndicesByUser()
    for u in 0..<data.users.count {
      for p in data.byUser.range(ofRow: u) {
        let n = Int(order[p])
        #expect(Int(data.userIndices[n]) == u)
        #expect(data.itemIndices[n] == data.byUser.columns[p])
        #expect(data.values[n] == data.byUser.values[p])
      }
    }
  }

  @Test func seededGeneratorsAreReproducibleAndStreamsDiffer() {
    var a = SeededGenerator(seed: 1, stream: 0)
    var b = SeededGenerator(seed: 1, stream: 0)
    var c = SeededGenerator(seed: 1, stream: 1)
    let first = (0..<4).map { _ in a.next() }
    #expect(first == (0..<4).map { _ in b.next() })
    #expect(first != (0..<4).map { _ in c.next() })
  }

  @Test func syntheticWorldIsDeterministicAndShapedAsAsked() throws {
    let one = try SyntheticWorld(configuration: .init(userCount: 50, itemCount: 80, ratingCount: 1_500), seed: 9)
    let two = try SyntheticWorld(configuration: .init(userCount: 50, itemCount: 80, ratingCount: 1_500), seed: 9)
    #expect(one.ratings.count == 1_500)
    #expect(one.ratings.values == two.ratings.values)
    #expect(one.ratings.valueRange.lowerBound >= 1 && one.ratings.valueRange.upperBound <= 5)
    #expect(one.items.allSatisfy { !$0.genres.isEmpty && !$0.title.isEmpty })
    #expect(throws: ConfigurationError.self) {
      _ = try SyntheticWorld(configuration: .init(userCount: 2, itemCount: 2, ratingCount: 10))
    }
  }
}
