import AsyncHTTPClient
import Configuration
import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import Logging
import MongoStore
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceAuth
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import ServiceKit

/// The service kit through a small application built exactly as services build theirs, against the real store.
@Suite(.timeLimit(.minutes(2)))
struct ServiceKitTests {
    struct Thing: ResponseCodable, Sendable {
        var _id: String
        var name: String
        var quantity: Int
    }

    /// A runtime plus an app with a few routes that exercise the kit.
    static func makeApp(overrides: [String: String] = [:]) async throws -> (ServiceRuntime, some ApplicationProtocol) {
        let runtime = try await TestRuntimes.make(.product, overrides: overrides)
        let router = runtime.makeRouter(apiDocument: Array(#"{"openapi":"3.1.0"}"#.utf8))
        let things = runtime.store.collection("things", as: Thing.self)
        router.protected.post("/things") { request, context -> EditedResponse<Thing> in
            let thing = try await request.decode(as: Thing.self, context: context)
            guard thing.quantity > 0 else { throw APIError.validation("quantity must be positive") }
            try await things.insert(thing)
            return EditedResponse(status: .created, response: thing)
        }
        router.protected.get("/things/:id") { _, context -> Thing in
            guard let thing = try await things.findOne(["_id": .string(try context.parameters.require("id"))]) else {
                throw APIError.notFound("thing")
            }
            return thing
        }
        router.protected.get("/whoami") { _, context -> String in
            let identity = try context.requireIdentity()
            return "\(identity.role.rawValue):\(identity.userID):\(CurrentRequest.id ?? "none")"
        }
        router.protected.get("/crash") { _, _ -> String in
            struct Secret: Error { let password = "hunter2" }
            throw Secret()
        }
        router.protected.get("/peer") { _, _ -> String in
            let response = try await runtime.client.send(.get, to: .inventory, path: "/seen")
            return String(decoding: response.body, as: UTF8.self)
        }
        let app = runtime.makeApplication(router: router) {
            try await things.createIndexes([MongoIndex(keys: ["name": 1], unique: true)])
        }
        return (runtime, app)
    }

    static func bearer(_ runtime: ServiceRuntime, role: Role = .customer) async throws -> HTTPFields {
        try await runtime.bearerHeaders(role: role)
    }

    /// The count of `storefront_peer_requests_total` with this `status` label in the runtime's registry, as printed.
    static func peerCalls(_ runtime: ServiceRuntime, status: String) -> String? {
        let sample = runtime.metrics.emitToString().split(separator: "\n").first {
            $0.hasPrefix("storefront_peer_requests_total{") && $0.contains(#"status="\#(status)""#)
        }
        return sample?.split(separator: " ").last.map(String.init)
    }

    /// The error envelope of `response`; records a failure (and returns an empty detail) when the body is not one.
    static func envelope(
        _ response: TestResponse,
        sourceLocation: SourceLocation = #_sourceLocation
    )
        -> ErrorEnvelope.Detail
    {
        #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
        guard let error = response.errorEnvelope else {
            Issue.record("not an error envelope: \(String(buffer: response.body))", sourceLocation: sourceLocation)
            return ErrorEnvelope.Detail(code: "", message: "")
        }
        return error
    }

    @Test("HEAD answers as GET without the body, with the route's auth; TRACE is 405")
    func headAndTrace() async throws {
        let (runtime, app) = try await Self.makeApp()
        let auth = try await Self.bearer(runtime)
        try await app.test(.router) { client in
            let get = try await client.execute(uri: "/whoami", method: .get, headers: auth) { $0 }
            #expect(get.status == .ok)
            #expect(get.body.readableBytes > 0)
            try await client.execute(uri: "/whoami", method: .head, headers: auth) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
                #expect(response.headers[.contentLength] == String(get.body.readableBytes))
                #expect(response.headers[.contentType] == get.headers[.contentType])
            }
            // The GET route's group middleware runs: no token, no answer.
            try await client.execute(uri: "/whoami", method: .head) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/health", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/nowhere", method: .head, headers: auth) { response in
                #expect(response.status == .notFound)
            }
            // A path without GET has no HEAD either.
            try await client.execute(uri: "/things", method: .head, headers: auth) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
            try await client.execute(uri: "/health", method: .trace) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
                #expect(Self.envelope(response).code == "method_not_allowed")
            }
        }
    }

    @Test("unknown paths, wrong methods, malformed JSON and bad values all answer with the JSON error envelope")
    func errorEnvelope() async throws {
        let (runtime, app) = try await Self.makeApp()
        let auth = try await Self.bearer(runtime)
        try await app.test(.router) { client in
            try await client.execute(uri: "/nowhere", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
                let error = Self.envelope(response)
                #expect(error.code == "not_found")
                #expect(error.message == "no route for GET /nowhere")
                #expect(
                    String(buffer: response.body)
                        == #"{"error":{"code":"not_found","message":"no route for GET /nowhere"}}"#
                )
            }
            try await client.execute(uri: "/things", method: .delete, headers: auth) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
                #expect(Self.envelope(response).code == "method_not_allowed")
            }
            try await client.execute(uri: "/health", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
            }
            try await client.execute(
                uri: "/things",
                method: .post,
                headers: auth,
                body: ByteBuffer(string: "{not json")
            ) {
                response in
                #expect(response.status == .badRequest)
                #expect(Self.envelope(response).code == "bad_request")
            }
            let wrongType = #"{"_id":"a","name":"bolt","quantity":"many"}"#
            try await client.execute(uri: "/things", method: .post, headers: auth, body: ByteBuffer(string: wrongType))
            {
                response in
                #expect(response.status == .badRequest)
                #expect(Self.envelope(response).message.contains("quantity"))
            }
            let invalid = #"{"_id":"a","name":"bolt","quantity":0}"#
            try await client.execute(uri: "/things", method: .post, headers: auth, body: ByteBuffer(string: invalid)) {
                response in
                #expect(response.status == .badRequest)
                #expect(Self.envelope(response).code == "validation_failed")
            }
            // A body over the limit (2 MiB by default) is refused before it is read whole, not a 500.
            let huge = #"{"_id":"a","name":""# + String(repeating: "x", count: 3 << 20) + #"","quantity":1}"#
            try await client.execute(uri: "/things", method: .post, headers: auth, body: ByteBuffer(string: huge)) {
                response in
                #expect(response.status == .contentTooLarge)
                #expect(Self.envelope(response).code == "payload_too_large")
            }
            try await client.execute(uri: "/things/none", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
                #expect(Self.envelope(response).message == "thing not found")
            }
            try await client.execute(uri: "/crash", method: .get, headers: auth) { response in
                #expect(response.status == .internalServerError)
                let error = Self.envelope(response)
                #expect(error.code == "internal")
                #expect(!error.message.contains("hunter2"))
            }
            // Rejected requests changed nothing.
            #expect(try await runtime.store.collection("things", as: Thing.self).count() == 0)
        }
    }

    @Test("store errors map to statuses: a unique index violation is 409 and writes nothing")
    func storeErrorMapping() async throws {
        let (runtime, app) = try await Self.makeApp()
        let auth = try await Self.bearer(runtime)
        try await app.test(.router) { client in
            let first = #"{"_id":"a","name":"bolt","quantity":1}"#
            let second = #"{"_id":"b","name":"bolt","quantity":2}"#
            try await client.execute(uri: "/things", method: .post, headers: auth, body: ByteBuffer(string: first)) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/things", method: .post, headers: auth, body: ByteBuffer(string: second)) {
                response in
                #expect(response.status == .conflict)
                #expect(Self.envelope(response).code == "conflict")
            }
            #expect(try await runtime.store.collection("things", as: Thing.self).find().map(\._id) == ["a"])
        }
    }

    @Test("every non-public route needs a valid bearer token")
    func authentication() async throws {
        let (runtime, app) = try await Self.makeApp()
        let expired = try await runtime.authority.accessToken(
            for: Identity(userID: "u1", email: "u1@example.com", role: .customer),
            now: Date().addingTimeInterval(-7200)
        )
        try await app.test(.router) { client in
            try await client.execute(uri: "/whoami", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                #expect(Self.envelope(response).code == "unauthenticated")
            }
            try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Bearer \(expired)"]) {
                response in
                #expect(response.status == .unauthorized)
                #expect(Self.envelope(response).code == "invalid_token")
            }
            try await client.execute(
                uri: "/whoami",
                method: .get,
                headers: try await Self.bearer(runtime, role: .admin)
            ) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body).hasPrefix("admin:u1:"))
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""status":"ok""#))
            }
            // A public route ignores a bad token (a client holding an expired one can still log in).
            try await client.execute(uri: "/health", method: .get, headers: [.authorization: "Bearer \(expired)"]) {
                response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/whoami", method: .get, headers: [.authorization: "Token abc"]) {
                response in
                #expect(response.status == .unauthorized)
                #expect(Self.envelope(response).message == "the Authorization header must be 'Bearer <token>'")
            }
        }
    }

    @Test("a request id is accepted or generated, echoed, logged and passed on to peers with a service token")
    func requestIDPropagation() async throws {
        // A peer service that reports what it received.
        let peerAuthority = await TokenAuthority(configuration: try AuthConfiguration(secret: TestRuntimes.jwtSecret))
        let peerRouter = Router()
        peerRouter.get("/seen") { request, _ -> String in
            let token = request.headers[.authorization]?.replacingOccurrences(of: "Bearer ", with: "") ?? ""
            let role = (try? await peerAuthority.verify(token).role.rawValue) ?? "none"
            return "\(request.headers[CurrentRequest.headerName] ?? "none")|\(role)"
        }
        try await Application(router: peerRouter).test(.live) { peer in
            let peerPort = try #require(peer.port)
            let (runtime, app) = try await Self.makeApp(overrides: ["inventory.url": "http://127.0.0.1:\(peerPort)"])
            let auth = try await Self.bearer(runtime)
            try await app.test(.router) { client in
                var headers = auth
                headers[CurrentRequest.headerName] = "req-123"
                try await client.execute(uri: "/whoami", method: .get, headers: headers) { response in
                    #expect(response.headers[CurrentRequest.headerName] == "req-123")
                    #expect(String(buffer: response.body) == "customer:u1:req-123")
                }
                try await client.execute(uri: "/peer", method: .get, headers: headers) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "req-123|service")
                }
                #expect(Self.peerCalls(runtime, status: "200") == "1")
                // No id, or an unsafe one: a fresh id is generated, used and echoed.
                headers[CurrentRequest.headerName] = "bad id\nwith newline"
                try await client.execute(uri: "/whoami", method: .get, headers: headers) { response in
                    let id = try #require(response.headers[CurrentRequest.headerName])
                    #expect(UUID(uuidString: id) != nil)
                    #expect(String(buffer: response.body) == "customer:u1:\(id)")
                }
                // Even an error response carries it.
                try await client.execute(uri: "/nowhere", method: .get, headers: [CurrentRequest.headerName: "req-404"])
                {
                    #expect($0.headers[CurrentRequest.headerName] == "req-404")
                }
            }
        }
    }

    @Test("a peer that is down or slow fails the call with a 503, within the client timeout")
    func peerUnavailable() async throws {
        let port = try FreePort.find()
        let (runtime, app) = try await Self.makeApp(overrides: [
            "inventory.url": "http://127.0.0.1:\(port)", "http.client.timeout.ms": "1000",
        ])
        try await app.test(.router) { client in
            try await client.execute(uri: "/peer", method: .get, headers: try await Self.bearer(runtime)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.envelope(response).code == "dependency_unavailable")
            }
        }
        #expect(Self.peerCalls(runtime, status: "unavailable") == "1")
    }

    @Test("the request id travels in the event header and is bound again while the event is handled")
    func requestIDThroughKafka() async throws {
        let runtime = try await TestRuntimes.make(.user)
        let topic = TestEnvironment.uniqueName("kit-events")
        let producer = try runtime.makeProducer()
        let seen = Mutex<[String]>([])
        let consumer = try runtime.makeConsumer(groupID: TestEnvironment.uniqueName("kit-group"), topics: [topic]) {
            message,
            _ in
            seen.withLock { $0.append("\(message.headers["x-request-id"] ?? "none")=\(CurrentRequest.id ?? "none")") }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            group.addTask { try await consumer.run() }
            try await CurrentRequest.$id.withValue("req-evt-1") {
                try await EventPublisher(producer: producer).publish(
                    OutboxTests.Payload(eventId: "e-1", n: 1, k: "k1"),
                    to: EventTopic(topic, partitions: 1)
                )
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while seen.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            group.cancelAll()
        }
        await runtime.store.close()
        #expect(seen.withLock { $0 } == ["req-evt-1=req-evt-1"])
    }

    @Test("/ready answers 200 while the store answers and 503 with the envelope once it is stopped")
    func readinessFollowsTheStore() async throws {
        let store = try await DevStoreProcess.start()
        do {
            let (_, app) = try await Self.makeApp(overrides: [
                "mongo.uri": store.uri, "mongo.server.selection.timeout.ms": "1000", "ready.timeout.ms": "1500",
            ])
            try await app.test(.router) { client in
                try await client.execute(uri: "/ready", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == #"{"checks":{"mongo":"ok"},"status":"ready"}"#)
                }
                await store.stop()
                try await client.execute(uri: "/ready", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(Self.envelope(response).code == "not_ready")
                    #expect(String(buffer: response.body).contains(#""mongo":"unavailable""#))
                }
            }
        } catch {
            await store.stop()
            throw error
        }
    }

    @Test("/ready checks the broker once the service has a producer")
    func readinessIncludesTheBroker() async throws {
        let runtime = try await TestRuntimes.make(.payment)
        _ = try runtime.makeProducer()
        let results = await runtime.readiness()
        #expect(results.count == 2)
        #expect(results["kafka"] == .some(nil))
        let unreachable = try await TestRuntimes.make(
            .payment,
            overrides: ["kafka.brokers": "127.0.0.1:\(try FreePort.find())", "ready.timeout.ms": "1000"]
        )
        _ = try unreachable.makeProducer()
        let failed = await unreachable.readiness()
        // `readiness()` maps each check to `nil` (passed) or its failure: the broker check must be there and failed.
        #expect(failed.count == 2)
        let reason = try #require(failed["kafka"], "no broker check at all")
        #expect(reason?.isEmpty == false, "the broker check passed against a port nothing listens on")
        await runtime.store.close()
        await unreachable.store.close()
    }

    @Test("a deadline holds even when the operation ignores cancellation (a blocking store call): /ready's limit")
    func deadlineOverBlockingWork() async throws {
        // The operation resumes only after 60 s whatever happens, as a blocked libmongoc call would. The margins are
        // wide: a loaded machine can delay the 200 ms timer by seconds, never by half a minute.
        let blocked: @Sendable () async throws -> Int = {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().asyncAfter(deadline: .now() + 60) { continuation.resume() }
            }
            return 1
        }
        let start = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) { try await withDeadline(.milliseconds(200), blocked) }
        #expect(ContinuousClock.now - start < .seconds(30))  // the limit is 200 ms; the operation takes 60 s
        #expect(try await withDeadline(.seconds(30)) { 7 } == 7)
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await withDeadline(.seconds(30)) { () async throws -> Int in throw Refused() }
        }
    }

    @Test("a service's standard output is JSON lines only, libmongoc's own warnings included")
    func libmongocLogsAreJSON() async throws {
        // An option libmongoc does not know makes it warn while parsing the URI, on every start.
        let uri = try TestEnvironment.mongoURI() + "/?storefrontUnknownOption=1"
        let port = try FreePort.find()
        let values = try TestRuntimes.values(
            .product,
            overrides: ["mongo.uri": uri, "log.format": "json", "log.level": "info"]
        )
        let process = try await ServiceProcess.start(.product, port: port, values: values)
        await process.stop()
        let output = try String(contentsOf: process.logFile, encoding: .utf8)
        let lines = output.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(!lines.isEmpty)
        for line in lines {
            let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(record != nil, "not a JSON record: \(line)")
        }
        let warning = lines.first { $0.contains("storefrontunknownoption") || $0.contains("storefrontUnknownOption") }
        #expect(warning?.contains(#""logger":"libmongoc""#) == true, "\(output.prefix(3000))")
        #expect(warning?.contains(#""level":"warning""#) == true)
    }

    @Test("SIGTERM: /ready answers 503 at once, requests are still served (with Connection: close), then it exits 0")
    func drainOnSigterm() async throws {
        let port = try FreePort.find()
        // The drain must outlast the three requests below on a loaded machine: 4 s did not at load average 17.
        let values = try TestRuntimes.values(.product, overrides: ["shutdown.drain.ms": "20000"])
        let process = try await ServiceProcess.start(.product, port: port, values: values)
        let base = "http://127.0.0.1:\(port)"
        let before = try await HTTPAnswer.fetch(HTTPClientRequest(url: base + "/get"))
        #expect(before.status == 200 && !before.headers["connection"].contains("close"))
        let signalled = ContinuousClock.now
        kill(process.pid, SIGTERM)
        try await process.wait(for: "draining") {
            (try? await HTTPAnswer.fetch(HTTPClientRequest(url: base + "/ready")))?.string("status") == "draining"
        }
        let ready = try await HTTPAnswer.fetch(HTTPClientRequest(url: base + "/ready"))
        #expect(ready.status == 503 && ready.errorCode == "shutting_down", "\(ready)")
        let during = try await HTTPAnswer.fetch(HTTPClientRequest(url: base + "/get"))
        #expect(during.status == 200, "\(during)")
        #expect(during.headers["connection"].contains("close"), "\(during.headers)")
        #expect(await process.exitStatus() == 0, "\(process.logTail())")
        // The drain is the behaviour: the listener stayed open for (about) the configured 20 s.
        #expect(ContinuousClock.now - signalled >= .milliseconds(19_500))
    }

    @Test("tracing: a request's traceparent reaches its server span (OTLP export) and the event it causes (header)")
    func traceparentThroughRESTAndKafka() async throws {
        // An OTLP/HTTP (JSON) receiver standing in for the collector.
        let exports = Mutex<[String]>([])
        let receiverPort = try FreePort.find()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 24)
            exports.withLock { $0.append(String(buffer: body)) }
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{}"))
            )
        }
        let receiver = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: receiverPort))
        )
        let port = try FreePort.find()
        let values = try TestRuntimes.values(
            .user,
            overrides: [
                "bcrypt.cost": "4",
                "otel.exporter.otlp.endpoint": "http://127.0.0.1:\(receiverPort)",
                "otel.exporter.otlp.protocol": "http/json", "otel.bsp.schedule.delay": "100",
            ]
        )
        let runtime = try await ServiceRuntime(service: .user, reader: .storefront(overrides: values))
        let events = MessageLog()
        let consumer = try runtime.makeConsumer(
            groupID: TestEnvironment.uniqueName("trace-events"),
            topics: [Topics.userCreated.name]
        ) { message, _ in events.append(message) }
        let producer = try runtime.makeProducer()
        let traceID = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let email = "\(TestEnvironment.uniqueName("traced"))@example.com"
        try await withRunning([receiver.run, producer.run, consumer.run]) {
            let process = try await ServiceProcess.start(.user, port: port, values: values)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/register")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "traceparent", value: "00-\(traceID)-00f067aa0ba902b7-01")
            let body = #"{"name":"Traced","email":"\#(email)","password":"a-long-password-1"}"#
            request.body = .bytes(ByteBuffer(string: body))
            let answer = try await HTTPAnswer.fetch(request)
            #expect(answer.status == 201, "\(answer)")
            // The event the registration caused carries the trace (through the outbox), in a span of its own.
            #expect(
                try await eventually(.seconds(60)) {
                    events.all.contains {
                        Self.email(of: $0) == email && $0.headers["traceparent"]?.contains(traceID) == true
                    }
                },
                "\(events.all.filter { Self.email(of: $0) == email }.map(\.headers))"
            )
            let header = events.all.first { Self.email(of: $0) == email }?.headers["traceparent"] ?? ""
            #expect(!header.contains("00f067aa0ba902b7"), "the event's parent is the service's span, not the caller's")
            // The service exported its spans of that trace to the collector (OTLP/JSON writes ids in hex; protobuf's
            // JSON mapping in base64: accept either).
            var bytes: [UInt8] = []
            var hex = Substring(traceID)
            while !hex.isEmpty {
                bytes.append(UInt8(hex.prefix(2), radix: 16)!)
                hex = hex.dropFirst(2)
            }
            let base64 = Data(bytes).base64EncodedString()
            #expect(
                try await eventually(.seconds(60)) {
                    exports.withLock { $0.contains { $0.contains(traceID) || $0.contains(base64) } }
                },
                "\(process.logTail())"
            )
            await process.stop()
        }
        await runtime.store.close()
    }

    private static func email(of message: KafkaBusMessage) -> String? {
        (try? StorefrontJSON.decoder().decode(UserCreatedEvent.self, from: Data(message.value)))?.email
    }

    @Test("JSON log lines keep metadata types: numbers and booleans as such, arrays and objects nested")
    func logValueTypes() {
        #expect(JSONLogHandler.json(.stringConvertible(156)) == .integer(156))
        #expect(JSONLogHandler.json(.stringConvertible(Int64(-3))) == .integer(-3))
        #expect(JSONLogHandler.json(.stringConvertible(0.25)) == .number(0.25))
        #expect(JSONLogHandler.json(.stringConvertible(true)) == .bool(true))
        #expect(JSONLogHandler.json(.stringConvertible(Double.nan)) == .string("nan"))
        #expect(JSONLogHandler.json("156") == .string("156"))  // a string stays a string
        #expect(JSONLogHandler.json(.stringConvertible(HTTPResponse.Status.ok)) == .string("200 OK"))
        #expect(
            JSONLogHandler.json(.dictionary(["n": .stringConvertible(2), "a": .array(["x"])]))
                == .object(["n": .integer(2), "a": .array([.string("x")])])
        )
    }

    @Test("/metrics exposes the Prometheus registry")
    func metrics() async throws {
        let (runtime, app) = try await Self.makeApp()
        runtime.metrics.makeCounter(
            descriptor: .init(namespace: "storefront", metricName: "test", unitName: "total", helpText: "")
        ).increment(by: Int64(3))
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("storefront_test_total 3"))
            }
        }
    }

    @Test("environment variables map to the documented keys (USER_PORT, MONGO_*, KAFKA_*, JWT_*, peer URLs)")
    func environmentNames() async throws {
        let environment = [
            "APP_ENV": "production", "LOG_LEVEL": "debug", "LOG_FORMAT": "text", "HTTP_HOST": "0.0.0.0",
            "CART_PORT": "9191", "ORDER_URL": "http://orders.internal:7000/", "HTTP_CLIENT_TIMEOUT_MS": "1234",
            "READY_TIMEOUT_MS": "4321", "MONGO_URI": try TestEnvironment.mongoURI(), "MONGO_DATABASE": "EnvCheck",
            "MONGO_THREADS": "3", "MONGO_SERVER_SELECTION_TIMEOUT_MS": "2500", "JWT_SECRET": TestRuntimes.jwtSecret,
            "JWT_ACCESS_TTL_SECONDS": "60", "KAFKA_BROKERS": "127.0.0.1:1", "KAFKA_MESSAGE_TIMEOUT_MS": "777",
        ]
        let reader = ConfigReader.storefront(environment: environment)
        let runtime = try await ServiceRuntime(service: .cart, reader: reader)
        let configuration = runtime.configuration
        #expect(configuration.environment == .production)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.logFormat == .text)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9191)
        #expect(configuration.peerURLs[.order] == "http://orders.internal:7000")
        #expect(configuration.peerURLs[.user] == "http://127.0.0.1:8080")
        #expect(configuration.httpClientTimeout == .milliseconds(1234))
        #expect(configuration.readyTimeout == .milliseconds(4321))
        #expect(runtime.store.databaseName == "EnvCheck")
        #expect(runtime.authority.configuration.accessTokenLifetime == .seconds(60))
        let mongo = try MongoStoreConfiguration(reader: reader.scoped(to: "mongo"), defaultDatabase: "x", appName: "x")
        #expect(mongo.threads == 3)
        #expect(mongo.serverSelectionTimeout == .milliseconds(2500))
        let kafka = try KafkaBusConfiguration(reader: reader.scoped(to: "kafka"), defaultClientID: "cart-service")
        #expect(kafka.brokers == "127.0.0.1:1")
        #expect(kafka.messageTimeout == .milliseconds(777))
        #expect(kafka.clientID == "cart-service")
        await runtime.store.close()
    }

    @Test("a client's id is 24 ASCII hex digits (either case, lower-cased); anything else is 400 invalid_id")
    func clientIDs() throws {
        let upper = try MongoObjectID.fromRequest("5F1D7A2B3C4D5E6F7A8B9C0D", name: "the id")
        #expect(upper.hex == "5f1d7a2b3c4d5e6f7a8b9c0d")
        // Eight full-width digits are also 24 UTF-8 bytes; Character.isHexDigit would have accepted them.
        for bad in [nil, "", "5f1d7a2b3c4d5e6f7a8b9c0", "5f1d7a2b3c4d5e6f7a8b9c0g", "１２３４５６７８"] {
            let error = #expect(throws: APIError.self) { try MongoObjectID.fromRequest(bad, name: "the user id") }
            #expect(error?.code == "invalid_id")
            #expect(error?.status == .badRequest)
            #expect(error?.message == "the user id must be 24 hexadecimal digits")
        }
    }

    @Test("dates go out as RFC 3339 UTC with the milliseconds the store keeps, and come back in")
    func dateFormat() throws {
        let date = Date(timeIntervalSince1970: 1_767_225_600.3976)  // rounds to .398, as the store does
        #expect(StorefrontJSON.format(date) == "2026-01-01T00:00:00.398Z")
        #expect(StorefrontJSON.format(Date(timeIntervalSince1970: 1_767_225_600)) == "2026-01-01T00:00:00.000Z")
        let json = try StorefrontJSON.encoder().encode([date])
        #expect(String(decoding: json, as: UTF8.self) == #"["2026-01-01T00:00:00.398Z"]"#)
        let back = try StorefrontJSON.decoder().decode([Date].self, from: json)
        #expect(abs(back[0].timeIntervalSince1970 - 1_767_225_600.398) < 0.0005)
    }

    @Test("dates before 1970, at the end of a year and far ahead format as Foundation's ISO 8601 does")
    func dateFormatAgreesWithFoundation() {
        for seconds in [-86_400.5, 0, 951_782_400, 1_798_761_599.999, 4_102_444_800, 253_402_300_799] {
            let date = Date(timeIntervalSince1970: seconds)
            let whole = Date(timeIntervalSince1970: (Double(date.epochMilliseconds) / 1000).rounded(.down))
            let millis = ((date.epochMilliseconds % 1000) + 1000) % 1000
            let expected = whole.formatted(.iso8601).dropLast() + "." + String(format: "%03d", millis) + "Z"
            #expect(StorefrontJSON.format(date) == expected, "\(seconds)")
        }
    }

    @Test("a log line is the JSON that JSONEncoder writes: sorted keys, escapes, nested values, numbers kept")
    func logLineJSON() throws {
        let value = JSONValue.object([
            "msg": .string("line \"one\"\n\ttab \\ slash / é \u{01}"),
            "b": .array([.integer(-3), .number(0.25), .number(2), .bool(true), .null]),
            "a": .object(["z": .string(""), "y": .object([:])]),
        ])
        var line: [UInt8] = []
        value.write(to: &line)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: line, as: UTF8.self) == String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    @Test("a log record: the event's metadata wins over the logger's, the record's own fields over both")
    func logRecordLine() throws {
        var handler = JSONLogHandler(label: "test-service")
        handler.metadata = [
            "request.id": "r-1", "shared": "logger", "msg": "dropped", "a.first": .stringConvertible(true),
        ]
        let event = LogEvent(
            level: .warning,
            message: "GET /get 200",
            metadata: ["shared": "event", "http.status": .stringConvertible(200), "ts": "dropped too"],
            source: nil,
            file: "File.swift",
            function: "f()",
            line: 7
        )
        let line = String(decoding: handler.line(for: event), as: UTF8.self)
        #expect(line.hasSuffix("}\n"))
        let record = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
        #expect(record["shared"] == .string("event"))
        #expect(record["request.id"] == .string("r-1"))
        #expect(record["http.status"] == .integer(200))
        #expect(record["a.first"] == .bool(true))
        #expect(record["msg"] == .string("GET /get 200"))
        #expect(record["logger"] == .string("test-service"))
        #expect(record["level"] == .string("warning"))
        #expect(record["source"] == .string("File.swift:7"))
        #expect(record["ts"] != .string("dropped too"))
        // Each key once, sorted: the line is what the encoder writes for the same object.
        var expected: [UInt8] = []
        record.write(to: &expected)
        #expect(line == String(decoding: expected, as: UTF8.self) + "\n")
    }

    @Test("configuration: malformed values and a missing secret stop the service before it starts")
    func configurationRefusals() async throws {
        await #expect(throws: AuthConfigurationError.self) {
            try await TestRuntimes.make(.user, overrides: ["jwt.secret": "short"])
        }
        await #expect(throws: ConfigurationError.self) {
            try await TestRuntimes.make(.user, overrides: ["user.port": "99999"])
        }
        await #expect(throws: ConfigurationError.self) {
            try await TestRuntimes.make(.user, overrides: ["log.level": "loud"])
        }
        await #expect(throws: MongoStoreError.self) {
            try await TestRuntimes.make(.user, overrides: ["mongo.threads": "0"])
        }
        let values = try TestRuntimes.values(.user).filter { $0.key != "jwt.secret" }
        await #expect(throws: AuthConfigurationError.self) {
            try await ServiceRuntime(service: .user, reader: .storefront(overrides: values))
        }
        var development = values
        development["app.env"] = "development"
        let runtime = try await ServiceRuntime(service: .user, reader: .storefront(overrides: development))
        #expect(runtime.authority.configuration.usesDevelopmentSecret)
        #expect(runtime.configuration.peerURLs[.cart] == "http://127.0.0.1:9000")
        await runtime.store.close()
    }
}
