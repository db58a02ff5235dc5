import HummingbirdBcrypt
import NIOPosix

/// bcrypt hashing and verification, always on NIO's shared blocking thread pool (`NIOThreadPool.singleton`): a hash
/// takes tens to hundreds of milliseconds of CPU, which must not run on an event loop or the cooperative pool.
struct PasswordHasher: Sendable {
    /// log2 of the bcrypt rounds (`bcrypt.cost`, `BCRYPT_COST`; 4...31, default 12).
    let cost: UInt8
    /// A hash of a random password at ``cost``, verified for unknown emails so that a login takes the same time
    /// whether or not the account exists.
    let dummyHash: String

    /// Creates the hasher and its dummy hash (one hash on the thread pool).
    init(cost: UInt8) async throws {
        self.cost = cost
        self.dummyHash = try await NIOThreadPool.singleton.runIfActive {
            Bcrypt.hash("dummy-\(UInt64.random(in: .min ... .max))", cost: cost)
        }
    }

    /// The bcrypt hash of `password`. Suspends while a pool thread hashes.
    func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Whether `password` matches `hash` (`nil`: compare with the dummy hash and answer `false`). Suspends while a
    /// pool thread verifies.
    func verify(_ password: String, hash: String?) async throws -> Bool {
        let stored = hash ?? self.dummyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: stored) }
        return matches && hash != nil
    }
}
