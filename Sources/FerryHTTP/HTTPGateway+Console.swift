import Ferry
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The web console under `/console`: server-rendered pages (Mustache, HTML-escaped) over the
/// same broker connections as the API. Sign-in makes a session cookie; every form that
/// changes something carries an anti-forgery token and is refused from another origin.
extension HTTPGateway {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all {
            // The templates are constants of this file's module: a parse error is a bug caught by the tests.
            try! library.register(text, named: name)
        }
        return library
    }()

    /// The cookie of the anti-forgery token before sign-in (and without security).
    static let csrfCookie = "ferry_csrf"

    func addConsoleRoutes(to router: Router<GatewayContext>) {
        let console = router.group("console").add(middleware: authenticator)
        console.get("login") { request, context -> Response in
            var page = self.consolePage(request, context, title: "Sign in")
            return self.renderConsole("login", &page, request: request)
        }
        console.post("login") { request, context -> Response in try await self.signIn(request, context) }
        console.post("logout") { request, context -> Response in
            let form = ConsoleForm(try await request.bodyBytes(upTo: 1 << 16))
            try self.checkForgery(request, context, form: form)
            if let id = request.cookies[HTTPAuthenticator.sessionCookie]?.value { self.sessions.end(id) }
            var response = Self.redirect("/console/login")
            response.setCookie(.init(name: HTTPAuthenticator.sessionCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        console.get("") { request, context -> Response in try await self.overview(request, context) }
        console.get("topics") { request, context -> Response in try await self.topicsPage(request, context) }
        console.get("groups") { request, context -> Response in try await self.groupsPage(request, context) }
        console.get("groups/:group") { _, context -> Response in Self.redirect("/console/groups/\(try context.name("group").urlComponent)/dead-letters") }
        console.get("groups/:group/dead-letters") { request, context -> Response in try await self.deadLettersPage(request, context) }
        console.post("groups/:group/dead-letters/action") { request, context -> Response in try await self.deadLetterAction(request, context) }
        console.get("tail") { request, context -> Response in try await self.tailPage(request, context) }
        console.get("tail/stream") { request, context -> Response in try await self.tailStream(request, context) }
        console.get("history") { request, context -> Response in try await self.historyPage(request, context) }
        console.get("trace") { request, context -> Response in try await self.traceConsolePage(request, context) }
    }

    // MARK: - Pages

    private func overview(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard context.identity != nil else { return Self.redirect("/console/login") }
        var page = consolePage(request, context, title: "Overview", nav: "overview")
        let bus = try await bus(context)
        do {
            let stats = try await bus.stats()
            let groups = stats.groups.filter { !$0.ephemeral }
            page["storedBytes"] = stats.storedBytes
            page["connections"] = stats.connections
            page["groupCount"] = groups.count
            page["deadLetters"] = groups.reduce(0) { $0 + $1.deadLetters }
            page["groups"] = groups.map(Self.groupRow)
            let damaged = stats.topics.filter { $0.lostEvents > 0 || $0.corruptRegions > 0 }
            page["storage"] = damaged.isEmpty ? "healthy" : "repaired"
            page["storageDetail"] =
                damaged.isEmpty ? "recovered, no damage" : "\(damaged.count) topics had damage at start (see ferry stats)"
        } catch {
            page["problem"] = "\(error)"
        }
        return renderConsole("overview", &page, request: request)
    }

    private func topicsPage(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard context.identity != nil else { return Self.redirect("/console/login") }
        var page = consolePage(request, context, title: "Topics", nav: "topics")
        do {
            let stats = try await bus(context).stats()
            page["topics"] = stats.topics.sorted { $0.name < $1.name }.map {
                ["name": $0.name, "events": $0.eventCount, "firstOffset": $0.firstOffset, "nextOffset": $0.nextOffset] as [String: Any]
            }
            page["storedBytes"] = stats.storedBytes
        } catch {
            page["problem"] = "\(error)"
        }
        return renderConsole("topics", &page, request: request)
    }

    private func groupsPage(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard context.identity != nil else { return Self.redirect("/console/login") }
        var page = consolePage(request, context, title: "Consumer groups", nav: "groups")
        do {
            page["groups"] = try await bus(context).groups().map(Self.groupRow)
        } catch {
            page["problem"] = "\(error)"
        }
        return renderConsole("groups", &page, request: request)
    }

    static func groupRow(_ group: GroupSummary) -> [String: Any] {
        [
            "name": group.name, "urlName": group.name.urlComponent, "patterns": group.patterns.joined(separator: ", "), "members": group.members,
            "lag": group.lag, "inFlight": group.inFlight, "retryQueue": group.pendingRetries, "deadLetters": group.deadLetters,
            "delivered": group.delivered, "acked": group.acked, "nacked": group.nacked, "redelivered": group.redelivered,
            "deadLettered": group.deadLettered, "ephemeral": group.ephemeral,
            "topics": group.topics.map { ["topic": $0.topic, "lag": $0.lag, "position": $0.position, "end": $0.end] as [String: Any] },
        ]
    }

    private func deadLettersPage(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard let identity = context.identity else { return Self.redirect("/console/login") }
        let group = try context.name("group")
        var page = consolePage(request, context, title: "Dead letters of \(group)", nav: "groups")
        let fields = request.queryFields
        let filter: DeadLetterFilter
        do {
            filter = try DeadLetterFilter(fields: fields)
        } catch {
            filter = DeadLetterFilter()
            page["problem"] = error.message + " (the filter was not applied)"
        }
        let after = UInt64(fields["after"] ?? "") ?? 0
        page["group"] = group
        page["urlGroup"] = group.urlComponent
        page["admin"] = mayAdminister(identity.principal, group)
        page["filter"] = ["type": fields["type"] ?? "", "error": fields["error"] ?? "", "key": fields["key"] ?? "", "since": fields["since"] ?? "",
            "until": fields["until"] ?? ""]
        let kept = filter.fields.sorted { $0.key < $1.key }
        page["filterFields"] = kept.map { ["name": $0.key, "value": $0.value] }
        page["filterQuery"] = kept.map { "\($0.key)=\($0.value.urlComponent)" }.joined(separator: "&")
        if let done = fields["done"] { page["flash"] = String(done.prefix(300)) }
        if page["problem"] != nil {
            page["count"] = 0
            return renderConsole("deadLetters", &page, request: request)
        }
        do {
            let scan = try await DeadLetterScan.run(bus: bus(context), group: group, filter: filter, after: after, limit: 100)
            page["count"] = scan.entries.count
            page["nextAfter"] = scan.nextAfter
            page["entries"] = scan.entries.map { entry -> [String: Any] in
                let event = EventJSON(entry.event)
                var row: [String: Any] = [
                    "id": entry.id, "type": event.type, "topic": event.topic, "offset": entry.offset, "eventId": event.id,
                    "urlEventId": event.id.urlComponent,
                    "payload": event.payloadDisplay,
                    "headers": event.headers.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] },
                    "lastError": entry.lastError, "reason": entry.reason.rawValue, "attempts": entry.attempts,
                    "deadLetteredAt": EventJSON.timestamp(entry.deadLetteredAt),
                ]
                if let key = event.key {
                    row["key"] = key
                    row["urlKey"] = key.urlComponent
                }
                return row
            }
        } catch {
            page["count"] = 0
            page["problem"] = "\(error)"
        }
        return renderConsole("deadLetters", &page, request: request)
    }

    private func deadLetterAction(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard let identity = context.identity else { return Self.redirect("/console/login") }
        let group = try context.name("group")
        let form = ConsoleForm(try await request.bodyBytes(upTo: 1 << 20))
        try checkForgery(request, context, form: form)
        guard mayAdminister(identity.principal, group) else {
            throw APIError(.forbidden, "FORBIDDEN", "principal '\(identity.principal)' may not administer group '\(group)'")
        }
        let action = form["action"] ?? ""
        var body = BulkRequest()
        switch action {
        case "requeue-selected", "purge-selected":
            body.ids = form.all("id").compactMap(UInt64.init)
        case "requeue-matching", "purge-matching":
            body.all = true
            let fields = form.fields
            (body.type, body.error, body.key, body.since, body.until) = (fields["type"], fields["error"], fields["key"], fields["since"], fields["until"])
        default:
            throw APIError.invalid("unknown action '\(action.prefix(64))'")
        }
        let purge = action.hasPrefix("purge")
        let result = try await bulk(body, group: group, bus: bus(context), purge: purge)
        let verb = purge ? "purged" : "requeued"
        let more = result.nextAfter.map { " (stopped after scanning up to id \($0); repeat to continue)" } ?? ""
        let filter = ["type", "error", "key", "since", "until"].compactMap { name in form[name].flatMap { $0.isEmpty ? nil : "&\(name)=\($0.urlComponent)" } }
        return Self.redirect(
            "/console/groups/\(group.urlComponent)/dead-letters?done=\("\(result.count) \(verb)\(more)".urlComponent)\(filter.joined())")
    }

    private func tailPage(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard context.identity != nil else { return Self.redirect("/console/login") }
        var page = consolePage(request, context, title: "Live tail", nav: "tail")
        if let topics = request.query("topics"), !topics.isEmpty { page["topics"] = String(topics.prefix(1024)) }
        return renderConsole("tail", &page, request: request)
    }

    /// Server-sent events: each new event of the topics as JSON, through an ephemeral group,
    /// with a keep-alive comment every 5 s (so that a closed page is noticed and its group goes),
    /// for at most five minutes (the browser reconnects by itself), and ended at shutdown.
    private func tailStream(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let patterns = (request.query("topics") ?? "").split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) }
        guard !patterns.isEmpty, patterns.count <= 16 else { throw APIError.invalid("follow 1-16 topic patterns") }
        let bus = try await bus(context)
        let tail = try await APIError.mapping { () throws(FerryError) in try await bus.tail(patterns, maxInFlight: 64) }
        guard tails.add(tail) else {
            await tail.close()
            throw APIError(.serviceUnavailable, "SHUTTING_DOWN", "ferryd is shutting down")
        }
        let tails = self.tails
        let body = ResponseBody { writer in
            let (lines, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(256))
            let reader = Task {
                for await item in tail {
                    let event = EventJSON(item.event)
                    let line: [String: Any] = [
                        "topic": event.topic, "offset": item.offset, "type": event.type, "key": event.key ?? "", "payload": event.payloadDisplay,
                    ]
                    guard let json = try? JSONSerialization.data(withJSONObject: line) else { continue }
                    continuation.yield("data: " + String(decoding: json, as: UTF8.self) + "\n\n")
                }
                continuation.finish()
            }
            let ticker = Task {
                let end = ContinuousClock.now + .seconds(300)
                while ContinuousClock.now < end {
                    try await Task.sleep(for: .seconds(5))
                    continuation.yield(": keep-alive\n\n")
                }
                await tail.close()
            }
            do {
                for await line in lines { try await writer.write(ByteBuffer(string: line)) }
            } catch {}
            reader.cancel()
            ticker.cancel()
            await tails.remove(tail)
            try? await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    private func historyPage(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard context.identity != nil else { return Self.redirect("/console/login") }
        var page = consolePage(request, context, title: "Key history", nav: "history")
        if let key = request.query("key"), !key.isEmpty {
            page["key"] = String(key.prefix(1024))
            page["urlKey"] = String(key.prefix(1024)).urlComponent
            do {
                let items = try await bus(context).history(key: String(key.prefix(1024)), limit: 200)
                page["events"] = items.map { item -> [String: Any] in
                    let event = EventJSON(item.event)
                    return ["storedAt": event.storedAt, "topic": item.topic, "offset": item.offset, "type": event.type, "id": event.id,
                        "urlID": event.id.urlComponent, "payload": event.payloadDisplay]
                }
            } catch {
                page["problem"] = "\(error)"
            }
        }
        return renderConsole("history", &page, request: request)
    }

    // MARK: - Sign-in, forgery, rendering

    private func signIn(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let form = ConsoleForm(try await request.bodyBytes(upTo: 1 << 16))
        try checkForgery(request, context, form: form)
        guard case .principals(let logins) = authenticator.mode else { return Self.redirect("/console") }
        let principal = form["principal"] ?? ""
        let password = form["password"] ?? ""
        guard principal.utf8.count <= 64, password.utf8.count <= 1024, try await logins.verify(principal: principal, password: password) else {
            var page = consolePage(request, context, title: "Sign in")
            page["problem"] = "Unknown principal or wrong password."
            var response = renderConsole("login", &page, request: request)
            response.status = .unauthorized
            return response
        }
        let id = sessions.start(principal: principal)
        var response = Self.redirect("/console")
        response.setCookie(.init(name: HTTPAuthenticator.sessionCookie, value: id, path: "/", httpOnly: true, sameSite: .strict))
        return response
    }

    /// Refuses a state-changing form from another origin, or without the token of this browser.
    private func checkForgery(_ request: Request, _ context: GatewayContext, form: ConsoleForm) throws(APIError) {
        let expected: String? =
            request.cookies[HTTPAuthenticator.sessionCookie].flatMap { sessions.session($0.value)?.csrfToken }
            ?? request.cookies[Self.csrfCookie]?.value
        guard let expected, let sent = form["csrf"], sent == expected else {
            throw APIError(.forbidden, "FORBIDDEN", "the form's anti-forgery token is missing or wrong; reload the page and try again")
        }
    }

    /// What every page shows: who is signed in, the role, the anti-forgery token.
    func consolePage(_ request: Request, _ context: GatewayContext, title: String, nav: String? = nil) -> [String: Any] {
        var page: [String: Any] = ["title": title]
        if let nav { page["nav"] = [nav: true] }
        if let identity = context.identity {
            page["who"] = identity.principal
            page["role"] = identity.method == "loopback" ? "admin, no sign-in on loopback" : "signed in"
            page["canSignOut"] = identity.method == "session"
        }
        let session = request.cookies[HTTPAuthenticator.sessionCookie].flatMap { sessions.session($0.value) }
        page["csrf"] = session?.csrfToken ?? request.cookies[Self.csrfCookie]?.value ?? ConsoleSessions.randomToken()
        return page
    }

    /// Renders `template` with `page`; sets the anti-forgery cookie when the browser has none.
    func renderConsole(_ template: String, _ page: inout [String: Any], request: Request) -> Response {
        let html = Self.library.render(page, withTemplate: template) ?? "template \(template) missing"
        var response = Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        if request.cookies[Self.csrfCookie] == nil, let token = page["csrf"] as? String {
            response.setCookie(.init(name: Self.csrfCookie, value: token, path: "/", httpOnly: true, sameSite: .strict))
        }
        return response
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}
