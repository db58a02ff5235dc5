import Foundation
import Synchronization

/// A private dev store (nx-27017) for a test that needs to stop the store under a running service.
/// Listens on a free loopback port with its data in a temporary folder, both gone after ``stop()``.
package final class DevStoreProcess: Sendable {
    package let port: Int
    package let uri: String
    private let process: ChildProcess
    private let dataDirectory: URL

    private init(port: Int, process: ChildProcess, dataDirectory: URL) {
        self.port = port
        self.uri = "mongodb://127.0.0.1:\(port)"
        self.process = process
        self.dataDirectory = dataDirectory
    }

    /// Starts a store and waits until it accepts connections.
    package static func start() async throws -> DevStoreProcess {
        let port = try FreePort.find()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestEnvironment.uniqueName("devstore")
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = try ChildProcess(
            name: "dev-store",
            executable: try TestEnvironment.devStoreExecutable(),
            arguments: [
                "--host", "127.0.0.1", "-p", String(port), "--data-dir", directory.path,
                "--log-file", directory.appendingPathComponent("store.log").path,
                "--pid-file", directory.appendingPathComponent("store.pid").path,
            ]
        )
        let store = DevStoreProcess(port: port, process: process, dataDirectory: directory)
        do {
            try await process.wait(for: "reachable") { FreePort.isListening(port) }
        } catch {
            await store.stop()
            throw error
        }
        return store
    }

    /// Stops the store (SIGTERM, then SIGKILL after 3 s) and removes its data.
    package func stop() async {
        await self.process.stop(grace: .seconds(3))
        try? FileManager.default.removeItem(at: self.dataDirectory)
    }
}

/// Loopback port helpers.
package enum FreePort {
    /// Ports handed out by this process, never handed out twice.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A TCP port on 127.0.0.1 that nothing listens on right now, for a server a test starts later.
    ///
    /// Chosen below the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), where the kernel never
    /// picks a port for an outgoing connection or a bind to port 0: between this call and the server's bind, the
    /// many connections a busy test process opens cannot take it. Never the same port twice in one process.
    package static func find() throws -> Int {
        let ephemeralStart = Self.ephemeralRangeStart()
        let low = 10_000
        let high = max(low + 1000, ephemeralStart) - 1
        let start = Int.random(in: low...high)
        for offset in 0...(high - low) {
            let port = low + (start - low + offset) % (high - low + 1)
            let fresh = Self.handedOut.withLock { $0.insert(port).inserted }
            if fresh && Self.isBindable(port) { return port }
        }
        throw POSIXError(.EADDRNOTAVAIL)
    }

    private static func ephemeralRangeStart() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32768
    }

    private static func isBindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    package static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                connect(fd, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
