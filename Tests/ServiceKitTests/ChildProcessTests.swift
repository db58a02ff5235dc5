import Foundation
import TestSupport
import Testing

/// The test support's child processes (the dev store, dev broker, SMTP server and services of every other suite):
/// what a child inherits from the test process, and the exit status it reports.
@Suite
struct ChildProcessTests {
    @Test("a child inherits no descriptor of the test process but its output, and reports its exit code")
    func descriptors() async throws {
        // A descriptor without close-on-exec, as libraries open them: without closefrom it would be the child's too
        // (as 3 when nothing else is open, and `ls` would then list its directory as 4).
        let leaked = open("/dev/null", O_RDONLY)
        #expect(leaked >= 3)
        defer { close(leaked) }
        let child = try ChildProcess(name: "list-fds", executable: "/bin/ls", arguments: ["-1", "/proc/self/fd"])
        #expect(await child.exitStatus() == 0, "\(child.logTail())")
        // stdin, stdout, stderr, and the directory `ls` itself opened to list them.
        let descriptors = child.logTail().split(separator: "\n").map(String.init)
        #expect(Set(descriptors) == ["0", "1", "2", "3"], "\(descriptors)")

        let failing = try ChildProcess(name: "exit-3", executable: "/bin/sh", arguments: ["-c", "exit 3"])
        #expect(await failing.exitStatus() == 3)
    }

    @Test(
        "a child starts with no blocked and no ignored signal, whatever the spawning thread had, and is stopped by them"
    )
    func signals() async throws {
        // The Swift runtime ignores SIGPIPE, and a pool thread may block signals; an exec keeps both unless reset.
        signal(SIGPIPE, SIG_IGN)
        var blocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGUSR2)
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        let child = Result {
            try ChildProcess(
                name: "signal-state",
                executable: "/bin/grep",
                arguments: ["-E", "^Sig(Blk|Ign)", "/proc/self/status"]
            )
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        let status = try child.get()
        #expect(await status.exitStatus() == 0, "\(status.logTail())")
        // Signals 1–31 only: glibc's posix_spawn sets its own internal signals (32, 33) to ignored in every child.
        let masks = Dictionary(
            uniqueKeysWithValues: status.logTail().split(separator: "\n").map { line in
                let parts = line.split(separator: "\t")
                return (String(parts[0]), (UInt64(parts[1], radix: 16) ?? .max) & 0x7fff_ffff)
            }
        )
        #expect(masks == ["SigBlk:": 0, "SigIgn:": 0], "\(status.logTail())")

        let sleeper = try ChildProcess(name: "sleeper", executable: "/bin/sleep", arguments: ["60"])
        #expect(sleeper.isRunning)
        await sleeper.stop()
        #expect(!sleeper.isRunning)
        #expect(await sleeper.exitStatus() == SIGTERM)
    }
}
