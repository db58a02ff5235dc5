package import Foundation

extension Date {
    /// Milliseconds since 1970, rounded as the store rounds BSON dates. Times that queries compare (expiry, retry
    /// deadlines, ordering) are stored in this form, because the dev store cannot `$set` a date (dev-store.md gap 3).
    package var epochMilliseconds: Int64 {
        Int64((self.timeIntervalSince1970 * 1000).rounded())
    }
}
