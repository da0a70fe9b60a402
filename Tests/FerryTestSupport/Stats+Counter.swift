public import FerryProtocol

extension Stats {
    /// The value of an unlabelled Prometheus counter in ``prometheusText``, nil when it is not
    /// exported (never counted).
    public func counter(_ name: String) -> Double? {
        prometheusText.split(separator: "\n").lazy.compactMap { line -> Double? in
            let parts = line.split(separator: " ")
            return parts.count == 2 && parts[0] == name ? Double(parts[1]) : nil
        }.first
    }
}
