@testable import Ferry
import FerryProtocol
import Foundation
import Testing

private struct Parcel: Event {
    static let schemaVersion: UInt32 = 3
    let id: String
    let grams: Int
    let insured: Bool
}

@Suite("Upcasters: old schema versions read as the current one")
struct UpcastersTests {
    private func received(_ json: String, version: UInt32, upcasters: Upcasters) -> ReceivedEvent {
        var wire = WireEvent()
        wire.id = "e1"
        wire.type = "Parcel"
        wire.schemaVersion = version
        wire.payload = Data(json.utf8)
        return ReceivedEvent(wire: wire, upcasters: upcasters)
    }

    private var chain: Upcasters {
        var upcasters = Upcasters()
        upcasters.register("Parcel", from: 1) { parcel in parcel["grams"] = ((parcel.removeValue(forKey: "kilos") as? Int) ?? 0) * 1000 }
        upcasters.register("Parcel", from: 2) { parcel in parcel["insured"] = false }
        return upcasters
    }

    @Test("a chain of steps brings version 1 and 2 to 3; the current and newer versions are read as they are")
    func chainApplies() throws {
        #expect(try received(#"{"id":"a","kilos":2}"#, version: 1, upcasters: chain).decode(Parcel.self).grams == 2000)
        let two = try received(#"{"id":"b","grams":5}"#, version: 2, upcasters: chain).decode(Parcel.self)
        #expect(two.grams == 5 && !two.insured)
        #expect(try received(#"{"id":"c","grams":1,"insured":true}"#, version: 3, upcasters: Upcasters()).decode(Parcel.self).insured)
        // A newer producer's extra field is ignored; version 0 (unset) counts as the current one.
        #expect(try received(#"{"id":"d","grams":1,"insured":true,"color":"red"}"#, version: 4, upcasters: Upcasters()).decode(Parcel.self).id == "d")
        #expect(try received(#"{"id":"e","grams":1,"insured":true}"#, version: 0, upcasters: Upcasters()).decode(Parcel.self).id == "e")
    }

    @Test("a missing step, a payload that is not an object and a failing step fail clearly")
    func failures() {
        var partial = Upcasters()
        partial.register("Parcel", from: 2) { _ in }
        #expect(throws: FerryError.self) { try received(#"{"id":"a"}"#, version: 1, upcasters: partial).decode(Parcel.self) }
        do {
            _ = try received(#"{"id":"a"}"#, version: 1, upcasters: partial).decode(Parcel.self)
        } catch {
            #expect(error.code == .serialization)
            #expect(error.message.contains("no upcaster for Parcel from schema version 1 to 2 (the handler reads version 3)"), "\(error)")
        }
        #expect(partial.missingSteps("Parcel", from: 1, to: 3) == [1])
        do {
            _ = try received("[1,2]", version: 2, upcasters: chain).decode(Parcel.self)
            Issue.record("an array is not upcast")
        } catch {
            #expect(error.message.contains("is not a JSON object"), "\(error)")
        }
        struct Refused: Error {}
        var failing = Upcasters()
        failing.register("Parcel", from: 1) { _ in throw Refused() }
        failing.register("Parcel", from: 2) { _ in }
        do {
            _ = try received(#"{"id":"a"}"#, version: 1, upcasters: failing).decode(Parcel.self)
            Issue.record("a failing step fails the decode")
        } catch {
            #expect(error.message.contains("the upcaster of Parcel from version 1 to 2 failed"), "\(error)")
        }
    }
}
