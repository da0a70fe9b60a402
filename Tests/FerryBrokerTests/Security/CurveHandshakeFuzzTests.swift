import FerryProtocol
import FerryTestSupport
import Foundation
import Testing
import ZeroMQ

/// Hostile traffic aimed at the handshake of a CURVE ferryd: random bytes, greetings left
/// hanging, a storm of connects and of unknown keys. ferryd stays up, its memory stays flat,
/// and a valid client is served throughout.
@Suite("A CURVE endpoint survives hostile handshakes", .serialized)
struct CurveHandshakeFuzzTests {
    /// A TCP connection made without ZeroMQ, to say whatever a test wants on the wire.
    final class RawTCP {
        let descriptor: Int32

        init?(port: UInt16) {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { return nil }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if connected != 0 {
                close(descriptor)
                return nil
            }
        }

        func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

        deinit { close(descriptor) }
    }

    /// The 64-byte ZMTP 3.0 greeting of a CURVE client.
    static var curveGreeting: [UInt8] {
        var greeting: [UInt8] = [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, 0]
        greeting += Array("CURVE".utf8) + [UInt8](repeating: 0, count: 15)
        greeting += [0] + [UInt8](repeating: 0, count: 31)
        return greeting
    }

    @Test("random bytes, half-open handshakes, 2,000 rapid connects and unknown keys: ferryd serves on, RSS flat")
    func hostileHandshakes() async throws {
        let client = try TestCredentials.Principal("client", rules: "allow:\n  publish: [\"fuzz.>\"]\n  admin: { stats: true }")
        let credentials = try TestCredentials([client])
        let ferryd = try await Ferryd(credentials.ferrydArguments)
        let port = try #require(UInt16(ferryd.endpoint.split(separator: ":").last ?? ""))
        try await onOwnThread {
            let valid = try credentials.client(of: ferryd, as: client)
            func served() throws -> Bool {
                try valid.send(.hello(Hello()))
                if case .welcome? = try valid.receive(timeout: .seconds(10))?.reply { return true }
                return false
            }
            #expect(try served())
            // Warm up: the first connections grow libzmq's pools once.
            for _ in 0..<200 { _ = RawTCP(port: port) }
            let before = ferryd.process.residentBytes

            var generator = SystemRandomNumberGenerator()
            var strangers: [RawClient] = []
            for round in 0..<5 {
                // Random bytes, with and without a valid greeting in front.
                for index in 0..<100 {
                    guard let connection = RawTCP(port: port) else { continue }
                    let noise = (0..<Int.random(in: 1...4096, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    connection.send(index.isMultiple(of: 2) ? noise : Self.curveGreeting + noise)
                }
                // Half-open handshakes: a greeting (or part of one), then nothing, held open.
                var hanging: [RawTCP] = []
                for index in 0..<100 {
                    guard let connection = RawTCP(port: port) else { continue }
                    connection.send(Array(Self.curveGreeting.prefix(index.isMultiple(of: 2) ? 64 : 11)))
                    hanging.append(connection)
                }
                // Rapid connects that say nothing.
                for _ in 0..<400 { _ = RawTCP(port: port) }
                // Complete CURVE handshakes with keys ferryd does not know, kept open to the end.
                for _ in 0..<20 {
                    let stranger = try RawClient(
                        endpoint: ferryd.endpoint, curve: (credentials.server.publicKey, try CurveKeyPair.generate()))
                    try stranger.send(.hello(Hello()))
                    strangers.append(stranger)
                }
                #expect(try served(), "round \(round): the valid client is still served while \(hanging.count) handshakes hang")
                hanging.removeAll()
            }
            #expect(ferryd.process.isRunning)
            // ferryd has dropped what the storm left behind once the valid client is answered.
            #expect(try served())
            let after = ferryd.process.residentBytes
            #expect(after - before < 32 << 20, "RSS grew from \(before) to \(after) bytes")
            // The strangers' handshakes reached the ZAP handler and were refused (and counted).
            let refused = try Wait.untilSync(timeout: .seconds(10)) {
                try valid.stats().prometheusText.contains(#"ferry_auth_refusals_total{principal="unknown",reason="unknown_key"}"#)
            }
            #expect(refused)
            strangers.removeAll()
        }
    }
}
