import FerryRuntime
import Histogram

/// Latencies in nanoseconds: an HdrHistogram (3 significant digits, no coordinated omission
/// correction needed because fixed-rate latency counts from the due time), and optionally every
/// value, for the exact nearest-rank percentiles the peers' workload defines.
struct LatencyRecorder: Sendable {
    /// The longest latency told apart; longer ones count as this.
    static let longest = Nanoseconds.seconds(3600)
    private(set) var histogram = Histogram<UInt64>(highestTrackableValue: longest.value, numberOfSignificantValueDigits: .three)
    private var values: [UInt64]?

    init(keepValues: Bool, expected: Int = 0) {
        if keepValues {
            values = []
            values?.reserveCapacity(expected)
        }
    }

    var count: Int { Int(histogram.totalCount) }

    mutating func record(_ latency: Nanoseconds) {
        _ = histogram.record(min(latency, Self.longest).value)
        values?.append(latency.value)
    }

    mutating func merge(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
        if values != nil { values?.append(contentsOf: other.values ?? []) }
    }

    /// Percentiles (0–100) in nanoseconds, exact nearest-rank (`v[ceil(q·n)−1]`) when every
    /// value was kept, HdrHistogram's otherwise; nil when nothing was recorded.
    func percentiles(_ levels: [Double]) -> [UInt64]? {
        guard count > 0 else { return nil }
        if let values {
            let sorted = values.sorted()
            return levels.map { level in
                let rank = Int((level / 100 * Double(sorted.count)).rounded(.up))
                return sorted[min(max(rank, 1), sorted.count) - 1]
            }
        }
        return levels.map { $0 >= 100 ? histogram.max : histogram.valueAtPercentile($0) }
    }
}
