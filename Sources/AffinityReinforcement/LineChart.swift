import AffinityCore
import Foundation

/// A small SVG line chart (learning curves): one polyline per series over a shared x range.
public enum LineChart {
  public static func svg(series: [(String, [Double])], title: String, xLabel: String, yLabel: String) -> String {
    let values = series.flatMap(\.1).filter(\.isFinite)
    var low = values.min() ?? 0, high = values.max() ?? 1
    if high - low < 1e-9 { low -= 0.5; high += 0.5 }
    let pad = (high - low) * 0.05
    low -= pad
    high += pad
    let count = max(series.map(\.1.count).max() ?? 1, 2)
    var plot = LinePlot(title: title, xLabel: xLabel, yLabel: yLabel, low: low, high: high, left: 64, right: 160)
    plot.ticks { fraction in "\(Int((Double(count - 1) * fraction).rounded()) + 1)" }
    for (n, (name, curve)) in series.enumerated() {
      let colour = LinePlot.colours[n % LinePlot.colours.count]
      // At most ~600 points per line keeps the file small.
      let step = max(curve.count / 600, 1)
      plot.line(
        stride(from: 0, to: curve.count, by: step).map { (Double($0) / Double(count - 1), curve[$0]) }, colour: colour,
        width: 1.5)
      plot.legend(row: n, sampleStart: 10, colour: colour, text: name)
    }
    return plot.svg
  }
}
