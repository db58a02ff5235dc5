extension KeyedDecodingContainer {
    /// The value at `key`, or `nil` when it is absent, `null` or of another type: how consumers read the keys that
    /// older producers (the original system) omit or send differently.
    func lenient<T: Decodable>(_ type: T.Type, forKey key: Key) -> T? {
        (try? self.decodeIfPresent(type, forKey: key)) ?? nil
    }
}
