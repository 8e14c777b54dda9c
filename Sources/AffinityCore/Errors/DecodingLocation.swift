/// Where a JSON document failed to decode, for error messages that name the field.
extension DecodingError {
  /// The field path (`events[0].eventId`, empty at the top) and what went wrong there.
  public var location: (field: String, detail: String) {
    let (path, detail): ([any CodingKey], String) =
      switch self {
      case .dataCorrupted(let c): (c.codingPath, c.debugDescription)
      case .keyNotFound(let key, let c): (c.codingPath + [key], "missing")
      case .typeMismatch(_, let c): (c.codingPath, c.debugDescription)
      case .valueNotFound(_, let c): (c.codingPath, "null where a value is needed")
      @unknown default: ([], "\(self)")
      }
    let field = String(path.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().drop(while: { (c: Character) in c == "." }))
    return (field, detail)
  }
}
