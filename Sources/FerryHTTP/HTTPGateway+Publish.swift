import Ferry
import Foundation
import Hummingbird
import HTTPTypes

/// `POST /api/v1/topics/{topic}/events`: one event (the body is its payload, its fields in
/// `Ferry-*` headers) or, with `Content-Type: application/x-ndjson`, a batch of one JSON
/// object per line. Replies once the broker confirmed: at the durability of a ZeroMQ publish.
extension HTTPGateway {
    /// One NDJSON line.
    struct BatchLine: Decodable {
        var id: String?
        var key: String?
        var type: String?
        var contentType: String?
        var headers: [String: String]?
        var correlationId: String?
        var causationId: String?
        var payload: JSONValue?
        var payloadBase64: String?
    }

    struct Published: Codable, Sendable {
        var topic: String
        var id: String
        var offset: UInt64
    }

    /// One line's outcome in a batch reply.
    struct LineOutcome: Codable, Sendable {
        var line: Int
        var id: String?
        var offset: UInt64?
        var error: ErrorBody?
    }

    struct ErrorBody: Codable, Sendable {
        var code: String
        var message: String
    }

    func addPublishRoutes(to api: RouterGroup<GatewayContext>) {
        route(.post, "topics/:topic/events", in: api) { request, context -> Response in
            let topic = try context.name("topic")
            let bus = try await self.bus(context)
            let contentType = request.headers[.contentType] ?? "application/octet-stream"
            if contentType.lowercased().hasPrefix("application/x-ndjson") {
                return try await self.publishBatch(request, topic: topic, bus: bus, context: context)
            }
            let event = try RawEvent(topic: topic, request: request, payload: try await request.bodyBytes(), contentType: contentType)
            let receipt = try await APIError.mapping { () throws(FerryError) in try await bus.publish(raw: [event])[0] }
            return try JSONReply(Published(topic: topic, id: receipt.eventID, offset: receipt.offset), status: .created).response(from: request, context: context)
        }
    }

    private func publishBatch(_ request: Request, topic: String, bus: EventBus, context: GatewayContext) async throws -> Response {
        let body = try await request.bodyBytes()
        let lines = body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .enumerated().filter { !$0.element.allSatisfy { [UInt8(ascii: " "), UInt8(ascii: "\r"), UInt8(ascii: "\t")].contains($0) } }
        guard lines.count <= GatewayLimits.maxBatchEvents else {
            throw APIError(.contentTooLarge, "BATCH_TOO_LARGE", "\(lines.count) lines; a batch holds at most \(GatewayLimits.maxBatchEvents)")
        }
        guard !lines.isEmpty else { throw APIError.invalid("the batch has no lines") }
        var outcomes: [LineOutcome] = []
        var events: [(line: Int, event: RawEvent)] = []
        let decoder = context.requestDecoder
        for (index, bytes) in lines {
            do {
                let line = try decoder.decode(BatchLine.self, from: Data(bytes))
                events.append((index + 1, try RawEvent(topic: topic, line: line)))
            } catch let error as APIError {
                outcomes.append(LineOutcome(line: index + 1, error: ErrorBody(code: error.code, message: error.message)))
            } catch {
                outcomes.append(LineOutcome(line: index + 1, error: ErrorBody(code: "INVALID_ARGUMENT", message: Request.describe(error))))
            }
        }
        let results = events.isEmpty ? [] : await bus.publishEach(raw: events.map(\.event))
        for ((line, event), result) in zip(events, results) {
            switch result {
            case .success(let receipt): outcomes.append(LineOutcome(line: line, id: receipt.eventID, offset: receipt.offset))
            case .failure(let error): outcomes.append(LineOutcome(line: line, id: event.id, error: ErrorBody(code: error.code.name, message: error.message)))
            }
        }
        outcomes.sort { $0.line < $1.line }
        let encoder = GatewayContext.jsonEncoder()
        var text = Data()
        for outcome in outcomes {
            text += try encoder.encode(outcome)
            text.append(UInt8(ascii: "\n"))
        }
        let failed = outcomes.contains { $0.error != nil }
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson", HTTPField.Name("Ferry-Failed-Lines")!: failed ? "true" : "false"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
    }
}

extension RawEvent {
    /// Headers naming the event's fields; `Ferry-Header-NAME: value` adds header NAME.
    static let idHeader = HTTPField.Name("Ferry-Event-Id")!
    static let keyHeader = HTTPField.Name("Ferry-Key")!
    static let typeHeader = HTTPField.Name("Ferry-Type")!
    static let correlationHeader = HTTPField.Name("Ferry-Correlation-Id")!
    static let causationHeader = HTTPField.Name("Ferry-Causation-Id")!
    static let headerPrefix = "ferry-header-"

    /// The event a single-event POST describes.
    init(topic: String, request: Request, payload: Data, contentType: String) throws(APIError) {
        var headers: [String: String] = [:]
        for field in request.headers where field.name.canonicalName.hasPrefix(Self.headerPrefix) {
            let name = String(field.name.canonicalName.dropFirst(Self.headerPrefix.count))
            guard !name.isEmpty else { throw APIError.invalid("a Ferry-Header- field needs a name after the prefix") }
            headers[name] = field.value
        }
        let fields = request.headers
        self.init(
            topic: topic, id: fields[Self.idHeader] ?? UUID().uuidString, key: fields[Self.keyHeader], type: fields[Self.typeHeader] ?? "",
            contentType: contentType, payload: payload, headers: headers, correlationID: fields[Self.correlationHeader],
            causationID: fields[Self.causationHeader])
    }

    /// The event an NDJSON line describes: `payload` (JSON) or `payload_base64` (bytes).
    init(topic: String, line: HTTPGateway.BatchLine) throws(APIError) {
        let payload: Data
        let contentType: String
        switch (line.payload, line.payloadBase64) {
        case (let value?, nil):
            payload = value.data
            contentType = line.contentType ?? "application/json"
        case (nil, let text?):
            guard let bytes = Data(base64Encoded: text) else { throw APIError.invalid("'payload_base64' is not base64") }
            payload = bytes
            contentType = line.contentType ?? "application/octet-stream"
        case (nil, nil):
            throw APIError.invalid("a line needs 'payload' (JSON) or 'payload_base64'")
        case (_?, _?):
            throw APIError.invalid("a line has either 'payload' or 'payload_base64', not both")
        }
        self.init(
            topic: topic, id: line.id ?? UUID().uuidString, key: line.key, type: line.type ?? "", contentType: contentType, payload: payload,
            headers: line.headers ?? [:], correlationID: line.correlationId, causationID: line.causationId)
    }
}
