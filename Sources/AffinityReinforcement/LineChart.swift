import Foundation

/// A small SVG line chart (learning curves): one polyline per series over a shared x range.
public enum LineChart {
  public static func svg(series: [(String, [Double])], title: String, xLabel: String, yLabel: String) -> String {
    let width = 760.0, height = 440.0, left = 64.0, right = 160.0, top = 40.0, bottom = 56.0
    let values = series.flatMap(\.1).filter(\.isFinite)
    var low = values.min() ?? 0, high = values.max() ?? 1
    if high - low < 1e-9 { low -= 0.5; high += 0.5 }
    let pad = (high - low) * 0.05
    low -= pad
    high += pad
    let count = max(series.map(\.1.count).max() ?? 1, 2)
    func x(_ i: Double) -> Double { left + i / Double(count - 1) * (width - left - right) }
    func y(_ v: Double) -> Double { top + (high - v) / (high - low) * (height - top - bottom) }
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(left)" y="22" font-size="15">\(escape(title))</text>
      <line x1="\(left)" y1="\(y(low))" x2="\(x(Double(count - 1)))" y2="\(y(low))" stroke="#333"/>
      <line x1="\(left)" y1="\(y(low))" x2="\(left)" y2="\(y(high))" stroke="#333"/>
      <text x="\(x(Double(count - 1) / 2))" y="\(height - 12)" text-anchor="middle">\(escape(xLabel))</text>
      <text x="16" y="\(y((low + high) / 2))" transform="rotate(-90 16 \(y((low + high) / 2)))" text-anchor="middle">\(escape(yLabel))</text>

      """
    for tick in 0...4 {
      let v = low + (high - low) * Double(tick) / 4
      svg += "<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3f", v))</text>\n"
      svg += "<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(x(Double(count - 1)))\" y2=\"\(y(v))\" stroke=\"#eee\"/>\n"
      let i = Double(count - 1) * Double(tick) / 4
      svg += "<text x=\"\(x(i))\" y=\"\(y(low) + 16)\" text-anchor=\"middle\">\(Int(i.rounded()) + 1)</text>\n"
    }
    for (n, (name, curve)) in series.enumerated() {
      let colour = colours[n % colours.count]
      // At most ~600 points per line keeps the file small.
      let step = max(curve.count / 600, 1)
      let points = stride(from: 0, to: curve.count, by: step).map { String(format: "%.1f,%.1f", x(Double($0)), y(curve[$0])) }
      svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
      let rowY = top + 16 * Double(n + 1)
      svg += "<line x1=\"\(width - right + 10)\" y1=\"\(rowY - 4)\" x2=\"\(width - right + 30)\" y2=\"\(rowY - 4)\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
      svg += "<text x=\"\(width - right + 36)\" y=\"\(rowY)\" fill=\"\(colour)\">\(escape(name))</text>\n"
    }
    return svg + "</svg>\n"
  }

  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }
}
