import AffinityCore
import AffinityTestSupport
import Testing

@Suite("Reading user and item features")
struct FeatureReaderTests {
  func read<ID: ExternalID>(_ text: String, _ type: ID.Type, format: FeatureReader.Format = .auto) throws(DataError) -> FeatureTable<ID> {
    try FeatureReader(format: format).read(DelimitedText(path: "features.txt", text: text))
  }

  @Test func readsGroupLensItemLayout() throws {
    // Invented rows in the u.item layout: id|title|date|video date|url|19 genre flags.
    let flags = Array(repeating: "0", count: 19)
    var action = flags
    action[1] = "1"
    action[5] = "1"
    let text = "7|A Made-Up Film (1990)|01-Jan-1990||http://x|" + action.joined(separator: "|") + "\n"
      + "8|Another One (1991)|||http://y|" + flags.joined(separator: "|") + "\n"
    let table = try read(text, ItemID.self)
    #expect(table.count == 2)
    #expect(table.value(of: "7", in: "genres") == .labels(["Action", "Comedy"]))
    #expect(table.value(of: "7", in: "year") == .number(1990))
    #expect(table.value(of: "8", in: "year") == .missing)
    #expect(table.column("title")?.kind == .text)
  }

  @Test func readsGroupLensUserLayout() throws {
    let table = try read("1|24|M|technician|00000\n2|53|F|other|11111\n", UserID.self)
    #expect(table.value(of: "2", in: "age") == .number(53))
    #expect(table.vocabulary(of: "occupation") == ["other", "technician"])
  }

  @Test func readsRecBoleTypes() throws {
    let text = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\temb:float_seq\n"
      + "1\tSome Title\t1995\tAnimation Comedy\t0.5 1.5\n"
    let table = try read(text, ItemID.self)
    #expect(table.column("movie_title")?.kind == .text)
    #expect(table.value(of: "1", in: "class") == .labels(["Animation", "Comedy"]))
    #expect(table.value(of: "1", in: "release_year") == .number(1995))
    #expect(table.value(of: "1", in: "emb") == .vector([0.5, 1.5]))
  }

  @Test func infersCSVColumnKinds() throws {
    let table = try read("id,price,brand,genres\na,9.5,acme,x|y\nb,3,zed,\n", ItemID.self)
    #expect(table.column("price")?.kind == .numeric)
    #expect(table.column("brand")?.kind == .categorical)
    #expect(table.value(of: "a", in: "genres") == .labels(["x", "y"]))
  }

  @Test func rejectsARepeatedIdWithItsLine() {
    #expect(throws: DataError.invalidValue(
      SourceLocation(file: "features.txt", line: 3, field: "user id"), value: "1",
      expected: "an id not seen on an earlier line (each id needs one row)")) {
      _ = try read("1|24|M|x|0\n2|30|F|y|0\n1|40|M|z|0\n", UserID.self)
    }
  }

  @Test func rejectsABadGenreFlag() {
    let flags = Array(repeating: "0", count: 18).joined(separator: "|")
    #expect(throws: DataError.self) { _ = try read("1|T|||u|yes|" + flags + "\n", ItemID.self) }
  }

  @Test func rejectsAShortRow() {
    #expect(throws: DataError.shortRow(
      SourceLocation(file: "features.txt", line: 2), expected: 5, found: 3,
      fix: "u.user rows need id|age|gender|occupation|zip")) {
      _ = try read("1|24|M|x|0\n2|30|F\n", UserID.self, format: .groupLensUsers)
    }
  }

  @Test(.tags(.realData), RealData.required(RealData.root + "/ml-100k/ml-100k.item"))
  func readsMovieLensItemsAndUsers() throws {
    let items = try FeatureReader().read(RealData.root + "/ml-100k/ml-100k.item", as: ItemID.self)
    #expect(items.count == 1_682)
    #expect(items.vocabulary(of: "class").count >= 18)
    let users = try FeatureReader().read(RealData.root + "/ml-100k/ml-100k.user", as: UserID.self)
    #expect(users.count == 943)
    #expect(Set(users.vocabulary(of: "gender")) == ["F", "M"])
  }
}
