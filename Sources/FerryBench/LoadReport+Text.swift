import Foundation

extension LoadReport {
    /// The peers' result line (../shared/peers/README.md): saturation
    /// `system mode publish_eps e2e_eps p50_us p99_us p999_us`, fixed rate
    /// `system mode rate p50_us p90_us p99_us p999_us max_us achieved_eps`. As there,
    /// `publish_eps` counts up to the last confirm.
    func peersLine(mode: String) -> String {
        func us(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "NA" }
        if let fixed = fixedRate {
            return "ferry \(mode) \(fixed.rate) \(us(latency?.p50)) \(us(latency?.p90)) \(us(latency?.p99)) \(us(latency?.p999)) "
                + "\(us(latency?.max)) \(Int(fixed.achieved))"
        }
        return
            "ferry \(mode) \(Int(throughput.confirm)) \(Int(throughput.endToEnd)) \(us(latency?.p50)) \(us(latency?.p99)) \(us(latency?.p999))"
    }

    /// Writes ``diagnosticLines`` to stderr, beside a result line on stdout.
    func writeDiagnostics() {
        FileHandle.standardError.write(Data((diagnosticLines.joined(separator: "\n") + "\n").utf8))
    }

    /// Diagnostics in the peers' `#` comment style, for stderr.
    var diagnosticLines: [String] {
        var lines = [
            "# broker \(broker.description)",
            "# confirmed \(events.confirmed) rejected \(events.rejected) received \(events.consumedPerGroup.map(String.init).joined(separator: "/")) "
                + "duplicates \(events.duplicates) malformed \(events.malformed) batches \(events.batches) "
                + "(avg \(String(format: "%.1f", events.averageBatch)))",
        ]
        var cpu = "# generator CPU \(String(format: "%.2f", generatorCPUSeconds)) s"
        if let brokerCPU = broker.cpuSeconds { cpu += ", ferryd CPU \(String(format: "%.2f", brokerCPU)) s" }
        if seconds > 0 { cpu += " over \(String(format: "%.2f", seconds)) s" }
        if let rss = broker.peakResidentMegabytes { cpu += ", ferryd peak RSS \(rss) MB" }
        lines.append(cpu)
        if let fixed = fixedRate {
            lines.append(
                "# send lag p50 \(String(format: "%.1f", fixed.sendLagP50)) us p99 \(String(format: "%.1f", fixed.sendLagP99)) us, "
                    + "achieved \(Int(fixed.achieved)) ev/s")
            if fixed.notSustained { lines.append("# NOT SUSTAINED: the publisher fell \(plan.maxLagMilliseconds) ms behind") }
            if fixed.fellBehind && !fixed.notSustained { lines.append("# FELL BEHIND") }
        }
        if let rejection = events.firstRejection { lines.append("# first rejection: \(rejection)") }
        if !complete && !(fixedRate?.notSustained ?? false) { lines.append("# INCOMPLETE RUN") }
        return lines
    }

    /// The report for people.
    var text: String {
        let g = BenchFormat.grouped
        var workload =
            "\(plan.publishers) publisher\(plan.publishers == 1 ? "" : "s"), \(plan.groups) group\(plan.groups == 1 ? "" : "s") × "
            + "\(plan.workersPerGroup) worker\(plan.workersPerGroup == 1 ? "" : "s"), \(plan.payloadBytes) B payloads, "
        workload += plan.rate.map { "fixed rate \(g($0)) ev/s" } ?? "saturation (window \(plan.window))"
        var lines = [
            "workload     \(workload)",
            "broker       \(broker.description)",
            "events       \(g(events.published)) published, \(g(events.confirmed)) confirmed, \(g(events.rejected)) rejected; "
                + "consumed per group \(events.consumedPerGroup.map(g).joined(separator: " / ")), \(g(events.duplicates)) duplicates",
            "throughput   publish \(g(Int(throughput.publish)))/s, confirm \(g(Int(throughput.confirm)))/s, "
                + "end-to-end \(g(Int(throughput.endToEnd)))/s"
                + (plan.groups > 1 ? " (\(g(Int(throughput.deliveries))) deliveries/s)" : "")
                + " over \(String(format: "%.2f", seconds)) s",
        ]
        if let latency {
            func us(_ value: Double) -> String { value >= 10 ? g(Int(value.rounded())) : String(format: "%.1f", value) }
            lines.append(
                "latency µs   p50 \(us(latency.p50))  p90 \(us(latency.p90))  p99 \(us(latency.p99))  p99.9 \(us(latency.p999))  "
                    + "max \(us(latency.max))" + (plan.rate == nil ? "  (saturation: latency is backlog)" : ""))
        }
        if let fixed = fixedRate {
            lines.append(
                "rate         achieved \(g(Int(fixed.achieved))) ev/s; send lag p50 \(String(format: "%.1f", fixed.sendLagP50)) µs, "
                    + "p99 \(String(format: "%.1f", fixed.sendLagP99)) µs"
                    + (fixed.notSustained ? "; NOT SUSTAINED (fell \(plan.maxLagMilliseconds) ms behind)" : "")
                    + (fixed.fellBehind && !fixed.notSustained ? "; fell behind" : ""))
        }
        var cpu = "cpu          generator \(String(format: "%.2f", generatorCPUSeconds)) s"
        if let brokerCPU = broker.cpuSeconds { cpu += ", ferryd \(String(format: "%.2f", brokerCPU)) s" }
        if let rss = broker.peakResidentMegabytes { cpu += "; ferryd peak RSS \(rss) MB" }
        lines.append(cpu)
        if let rejection = events.firstRejection { lines.append("rejections   first: \(rejection)") }
        if !complete && !(fixedRate?.notSustained ?? false) {
            lines.append("INCOMPLETE RUN: not every confirmed event reached every group once")
        }
        return lines.joined(separator: "\n")
    }
}

extension LoadReport.Broker: CustomStringConvertible {
    /// The durability mode the peers' result line names: the started ferryd's fsync policy, or
    /// `memory`; `external` for a running broker, whose policy the bench cannot see.
    var mode: String {
        guard started else { return "external" }
        return storage == .memory ? "memory" : fsync?.rawValue ?? "?"
    }

    /// Which broker was loaded: an external one at its endpoint, or the started ferryd with its
    /// fsync policy and storage.
    var description: String {
        let security = curve == true ? ", over CURVE" : ""
        guard started else { return "external ferryd at \(endpoint)\(security) (its fsync policy is unknown to the bench)" }
        return "ferryd --fsync \(fsync?.rawValue ?? "?") --storage \(storage?.rawValue ?? "?") at \(endpoint)\(security), started by the bench"
    }
}
