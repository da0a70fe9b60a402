public import Foundation

/// How an event published under an old schema version becomes the current one.
///
/// Events stay in the log as they were published, and a consumer reads them (retried, replayed,
/// from history) long after their type changed. An upcaster takes the JSON object of one
/// version of a type and makes it the next version's (`(type, v) → (type, v + 1)`); decoding
/// applies them as a chain, so a handler only ever sees the version its type declares
/// (``EventRepresentable/schemaVersion``). An old version with no path of upcasters fails with
/// a message naming the missing step (a handler group dead-letters the event), never silently.
///
/// ```swift
/// var upcasters = Upcasters()
/// upcasters.register("OrderCreated", from: 1) { order in      // version 1 → 2
///     order["netCents"] = order.removeValue(forKey: "totalCents") ?? 0
///     order["taxCents"] = 0
/// }
/// configuration.upcasters = upcasters
/// ```
///
/// Payloads are JSON (both ``Event`` and ``ProtobufEvent`` use it); the rules for changing an
/// event are in `docs/event-versioning.md`.
public struct Upcasters: Sendable {
    /// One step: changes the JSON object of a version into the next version's.
    public typealias Step = @Sendable (inout [String: Any]) throws -> Void

    private struct Key: Hashable {
        let typeName: String
        let version: UInt32
    }

    private var steps: [Key: Step] = [:]

    public init() {}

    /// Adds the step from `version` to `version + 1` of `typeName` (replacing one registered
    /// before).
    public mutating func register(_ typeName: String, from version: UInt32, _ step: @escaping Step) {
        precondition(version >= 1, "schema versions start at 1")
        steps[Key(typeName: typeName, version: version)] = step
    }

    /// Whether there is a step from `version` of `typeName`.
    public func hasStep(_ typeName: String, from version: UInt32) -> Bool {
        steps[Key(typeName: typeName, version: version)] != nil
    }

    /// The versions between `version` and `target` that have no step to the next one.
    public func missingSteps(_ typeName: String, from version: UInt32, to target: UInt32) -> [UInt32] {
        guard version < target else { return [] }
        return (version..<target).filter { !hasStep(typeName, from: $0) }
    }

    /// `payload`, a JSON object of `version` of `typeName`, brought to `target` through every
    /// step in between. Throws ``FerryError`` `.serialization` when a step is missing, the
    /// payload is not a JSON object, or a step throws.
    public func upcast(_ payload: Data, of typeName: String, from version: UInt32, to target: UInt32) throws(FerryError) -> Data {
        guard version < target else { return payload }
        if let missing = missingSteps(typeName, from: version, to: target).first {
            throw FerryError(
                .serialization,
                "no upcaster for \(typeName) from schema version \(missing) to \(missing + 1) (the handler reads version \(target))")
        }
        guard var object = (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any] else {
            throw FerryError(.serialization, "\(typeName) version \(version) is not a JSON object: it cannot be upcast")
        }
        for step in version..<target {
            do {
                try steps[Key(typeName: typeName, version: step)]!(&object)
            } catch {
                throw FerryError(.serialization, "the upcaster of \(typeName) from version \(step) to \(step + 1) failed: \(error)")
            }
        }
        do {
            return try JSONSerialization.data(withJSONObject: object)
        } catch {
            throw FerryError(.serialization, "the upcast \(typeName) is not JSON: \(error)")
        }
    }
}
