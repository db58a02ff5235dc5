package import Foundation
import Synchronization

/// A process a test starts and must stop: a private dev store or dev broker, or a service.
///
/// Output goes to a log file (never to the test's own output) so a failing test can show its tail.
/// `stop()` is idempotent; call it in a `defer` or at the end of the test.
///
/// Started with `posix_spawn`, not Foundation's `Process`: `Process.run()` in Swift 6.3 can crash the test process
/// (swift-corelibs-foundation #5472: it copies a whole 256-byte `d_name` while listing `/proc/self/fd`, which faults
/// when the entry ends a page). The child gets no descriptor of ours but its output (closefrom 3), the default
/// signal dispositions and an empty signal mask, whatever thread of the test starts it.
package final class ChildProcess: Sendable {
    package let name: String
    package let logFile: URL
    /// The process id; it stays ours (not reused) until the exit status has been collected.
    package let pid: pid_t
    /// The exit status once `waitpid` has collected it: the exit code, or the number of the signal that ended it.
    private let collectedStatus = Mutex<Int32?>(nil)

    /// Starts `executable` (a path) with `arguments`, inheriting the environment plus `environment`.
    /// - Throws: when the executable cannot be launched.
    package init(name: String, executable: String, arguments: [String], environment: [String: String] = [:]) throws {
        self.name = name
        self.logFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("storefront-\(TestEnvironment.uniqueName(name)).log")
        let environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        self.pid = try Self.spawn(
            executable: executable,
            arguments: [executable] + arguments,
            environment: environment.map { "\($0.key)=\($0.value)" },
            logPath: self.logFile.path
        )
    }

    /// Whether the process is still running (it collects the exit status once it has ended).
    package var isRunning: Bool { self.collect() == nil }

    /// Sends SIGTERM and waits for the process to exit; sends SIGKILL if it has not exited after `grace`.
    package func stop(grace: Duration = .seconds(10)) async {
        guard self.isRunning else { return }
        Foundation.kill(self.pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while self.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if self.isRunning {
            Foundation.kill(self.pid, SIGKILL)
            while self.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    package func kill() async {
        guard self.isRunning else { return }
        Foundation.kill(self.pid, SIGKILL)
        while self.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Waits until the process has exited (polling, so no thread blocks) and returns its exit status: the exit code,
    /// or the number of the signal that ended it.
    package func exitStatus() async -> Int32 {
        while true {
            if let status = self.collect() { return status }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The last `lines` lines of the process's output, for failure messages.
    package func logTail(lines: Int = 40) -> String {
        let text = (try? String(contentsOf: self.logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Waits until `condition` holds, polling every 50 ms; throws with the log tail if it does not within `timeout`
    /// or the process exits first.
    package func wait(
        for what: String,
        timeout: Duration = .seconds(30),
        until condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            guard self.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw StartupError(description: "\(self.name) did not become \(what) in time. Log tail:\n\(self.logTail())")
    }

    /// The exit status if the process has ended, collecting it with `waitpid` the first time; nil while it runs.
    /// Under the lock, so that two callers never both collect (the second would find the pid gone, or reused).
    private func collect() -> Int32? {
        self.collectedStatus.withLock { collected in
            if let collected { return collected }
            var status: Int32 = 0
            let result = waitpid(self.pid, &status, WNOHANG)
            if result == 0 { return nil }  // still running
            if result == self.pid {
                // WIFEXITED / WEXITSTATUS / WTERMSIG are C macros Swift does not import.
                let signal = status & 0x7f
                collected = signal == 0 ? (status >> 8) & 0xff : signal
            } else {
                collected = -1  // not our child any more (ECHILD): nothing left to wait for
            }
            return collected
        }
    }

    /// `posix_spawn` with the log file as stdout and stderr, /dev/null as stdin, and every other descriptor closed.
    private static func spawn(
        executable: String,
        arguments: [String],
        environment: [String],
        logPath: String
    )
        throws -> pid_t
    {
        let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw SpawnError(description: "cannot open \(logPath): errno \(errno)") }
        defer { close(log) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        guard closeFrom(&actions, 3) == 0 else { throw SpawnError(description: "closefrom file action failed") }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)  // SIGPIPE, ignored here, would stay ignored
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc module does not
    /// import; looked up once by name.
    private static let closeFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32 = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { fatalError("glibc 2.34 or later is needed: posix_spawn_file_actions_addclosefrom_np is missing") }
        return unsafeBitCast(
            symbol,
            to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self
        )
    }()

    package struct SpawnError: Error, CustomStringConvertible {
        package let description: String
    }

    package struct StartupError: Error, CustomStringConvertible {
        package let description: String
    }
}
