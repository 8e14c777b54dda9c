import Foundation

/// The frame of the SVG line charts the CLI writes (learning curves, bandit reward curves):
/// a 760 × 440 canvas, title, axes with labels, five y ticks with grid lines, x tick labels,
/// polylines and a legend column on the right. Callers map their data to an x fraction in
/// [0, 1] and a y value in `low…high`.
public struct LinePlot: Sendable {
  public let width = 760.0
  public let height = 440.0
  public let top = 40.0
  public let bottom = 56.0
  public let left: Double
  public let right: Double
  public let low: Double
  public let high: Double
  public private(set) var body = ""

  /// Ten distinguishable colours.
  public static let colours = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
  ]

  /// Starts a chart: white background, `title`, the two axes and their labels.
  public init(title: String, xLabel: String, yLabel: String, low: Double, high: Double, left: Double, right: Double) {
    self.left = left
    self.right = right
    self.low = low
    self.high = high
    body = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(left)" y="22" font-size="15">\(Self.escape(title))</text>
      <line x1="\(left)" y1="\(y(low))" x2="\(x(1))" y2="\(y(low))" stroke="#333"/>
      <line x1="\(left)" y1="\(y(low))" x2="\(left)" y2="\(y(high))" stroke="#333"/>
      <text x="\(x(0.5))" y="\(height - 12)" text-anchor="middle">\(Self.escape(xLabel))</text>
      <text x="16" y="\(y((low + high) / 2))" transform="rotate(-90 16 \(y((low + high) / 2)))" text-anchor="middle">\(Self.escape(yLabel))</text>

      """
  }

  /// The horizontal position of `fraction` of the x range.
  public func x(_ fraction: Double) -> Double { left + fraction * (width - left - right) }

  /// The vertical position of value `v`.
  public func y(_ v: Double) -> Double { top + (high - v) / max(high - low, 1e-9) * (height - top - bottom) }

  /// Five y ticks with grid lines, and under the axis at the same five fractions the labels
  /// `xTickLabel(0), …, xTickLabel(1)`.
  public mutating func ticks(xTickLabel: (Double) -> String) {
    for tick in 0...4 {
      let v = low + (high - low) * Double(tick) / 4
      body += "<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3f", v))</text>\n"
      body += "<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(x(1))\" y2=\"\(y(v))\" stroke=\"#eee\"/>\n"
      let fraction = Double(tick) / 4
      body += "<text x=\"\(x(fraction))\" y=\"\(y(low) + 16)\" text-anchor=\"middle\">\(xTickLabel(fraction))</text>\n"
    }
  }

  /// A line through `points` (x fraction, value).
  public mutating func line(_ points: [(Double, Double)], colour: String, width strokeWidth: Double, dash: String = "") {
    let coordinates = points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
    body += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(Self.number(strokeWidth))\"\(dash) points=\"\(coordinates)\"/>\n"
  }

  /// Legend row `row` (0 first) in the right margin: a line sample from `sampleStart` points
  /// after the plot to 30, then `text` at 36.
  public mutating func legend(row: Int, sampleStart: Double, colour: String, dash: String = "", text: String) {
    let rowY = top + 16 * Double(row + 1)
    body += "<line x1=\"\(x(1) + sampleStart)\" y1=\"\(rowY - 4)\" x2=\"\(x(1) + 30)\" y2=\"\(rowY - 4)\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>\n"
    body += "<text x=\"\(x(1) + 36)\" y=\"\(rowY)\" fill=\"\(colour)\">\(Self.escape(text))</text>\n"
  }

  /// Raw SVG elements (a caller's own marks, such as a dashed baseline).
  public mutating func append(_ element: String) { body += element }

  /// The finished document.
  public var svg: String { body + "</svg>\n" }

  /// `text` safe inside SVG text and attributes.
  public static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }

  static func number(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
  }
}
