import Foundation
import ServiceKit
import TestSupport
import Testing

/// The whole platform as an operator runs it: `scripts/stack up --no-build` starts a fresh dev store, a fresh dev
/// broker and the seven service executables of this build on their own ports (8080, 4000, 6000, 9000, 7000, 3000,
/// 2000), in a private state folder (`STACK_DIR`), with `env.example` plus this suite's overrides (`STACK_ENV_FILE`,
/// which replaces a developer's `.env`). The tests talk to it only over HTTP, as clients do, and stop, kill and
/// restart its processes through the same script and pid files.
///
/// The ports are the real ones, so a stack already running on this machine (`scripts/stack up`) makes `up` fail with
/// a message naming the port; stop it first.
final class Stack: Sendable {
    /// The stack the current test runs against (bound by ``RunningStack``).
    @TaskLocal static var current: Stack?

    /// Overrides of `env.example` for a quick, deterministic run: cheap password hashing, fast pollers, a known admin,
    /// short consumer-group session timeouts (a killed member's partitions move on after that long), and offsets
    /// committed only on a graceful close (so a killed consumer is sure to get its handled events again).
    static let settings: [String: String] = [
        "APP_ENV": "development",
        "LOG_LEVEL": "info",
        "BCRYPT_COST": "4",
        "ADMIN_EMAIL": "admin@storefront.example",
        "ADMIN_PASSWORD": "end-to-end-admin-password",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_AUTO_COMMIT_INTERVAL_MS": "600000",
        "OUTBOX_POLL_INTERVAL_MS": "100",
        "NOTIFICATION_POLL_INTERVAL_MS": "200",
        "RESERVATION_SWEEP_INTERVAL_MS": "1000",
        "ORDER_SWEEP_INTERVAL_MS": "1000",
        "ORDER_PENDING_TIMEOUT_SECONDS": "30",
        "ORDER_PAYMENT_ATTEMPTS": "2",
        "HTTP_CLIENT_TIMEOUT_MS": "3000",
    ]

    /// The seven services, on the ports of `env.example` (their defaults).
    typealias Service = StorefrontService

    /// The package root (this file is `Tests/EndToEndTests/Support/Stack.swift`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    let directory: URL
    private let environment: [String: String]

    private init(directory: URL, environment: [String: String]) {
        self.directory = directory
        self.environment = environment
    }

    /// Starts a new stack and waits until every service answers `/ready`.
    static func start() async throws -> Stack {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("storefront-e2e-\(TestEnvironment.uniqueName("stack"))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let stack = Stack(
            directory: directory,
            environment: [
                "STACK_DIR": directory.path,
                "STACK_ENV_FILE": directory.appendingPathComponent("e2e.env").path,
                "STACK_MONGO_PORT": String(try FreePort.find()),
                // The executables of the build under test (scripts/test names the dev broker's path).
                "STACK_BIN": URL(fileURLWithPath: try TestEnvironment.devBrokerExecutable())
                    .deletingLastPathComponent().path,
                "NO_COLOR": "1",
            ]
        )
        do {
            try stack.writeSettings([:])
            try await stack.script("up", "--no-build")
        } catch {
            await stack.shutdown()
            throw error
        }
        return stack
    }

    /// `scripts/stack up --no-build`: starts whatever is not running (after a stop or a kill) and waits for `/ready`.
    func restartStopped() async throws { try await self.script("up", "--no-build") }

    /// `scripts/stack down NAME`: a graceful stop (SIGTERM) of one service.
    func stop(_ service: Service) async throws { try await self.script("down", service.rawValue) }

    /// Restarts one service with `changes` on top of ``settings`` (the others keep theirs until they restart).
    /// `[:]` restores the defaults.
    func restart(_ service: Service, with changes: [String: String]) async throws {
        try self.writeSettings(changes)
        try await self.stop(service)
        try await self.restartStopped()
    }

    private func writeSettings(_ changes: [String: String]) throws {
        let lines = Self.settings.merging(changes) { $1 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let file = URL(fileURLWithPath: try #require(self.environment["STACK_ENV_FILE"]))
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
    }

    /// SIGKILL to one service, as a crash: no graceful shutdown, no offset commit, no leaving the group.
    func kill(_ service: Service) async throws {
        let pidFile = self.directory.appendingPathComponent("pids/\(service.rawValue).pid")
        let text = try String(contentsOf: pidFile, encoding: .utf8)
        let pid = try #require(text.split(separator: "\n").first.flatMap { Int32($0) }, "pid file: \(text)")
        #expect(Foundation.kill(pid, SIGKILL) == 0)
        while Foundation.kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// `scripts/stack down`, then removes the state folder (the logs are copied to `.stack/last-e2e/` first).
    func shutdown() async {
        _ = try? await self.script("down")
        let keep = Self.root.appendingPathComponent(".stack/last-e2e")
        try? FileManager.default.removeItem(at: keep)
        try? FileManager.default.createDirectory(
            at: keep.deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        try? FileManager.default.copyItem(at: self.directory.appendingPathComponent("logs"), to: keep)
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// The end of a component's log (`user`, `order`, `broker`, …), for failure messages.
    func logTail(_ name: String, lines: Int = 30) -> String {
        let file = self.directory.appendingPathComponent("logs/\(name).log")
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    private func script(_ arguments: String...) async throws {
        let process = try ChildProcess(
            name: "stack-\(arguments.first ?? "")",
            executable: "/bin/bash",
            arguments: [Self.root.appendingPathComponent("scripts/stack").path] + arguments,
            environment: self.environment
        )
        let status = await process.exitStatus()
        guard status == 0 else {
            throw StackError(
                description:
                    "scripts/stack \(arguments.joined(separator: " ")) exited with \(status):\n\(process.logTail(lines: 60))"
            )
        }
    }

    struct StackError: Error, CustomStringConvertible {
        var description: String
    }
}

/// Runs a suite against one ``Stack``, started before its first test and shut down after its last one.
struct RunningStack: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let stack = try await Stack.start()
        do {
            try await Stack.$current.withValue(stack) { try await function() }
        } catch {
            await stack.shutdown()
            throw error
        }
        await stack.shutdown()
    }
}

extension Trait where Self == RunningStack {
    /// The suite runs against the seven services started by `scripts/stack` (see ``Stack``).
    static var runningStack: Self { RunningStack() }
}
