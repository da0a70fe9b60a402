import Foundation

/// A submitted HTML form (`application/x-www-form-urlencoded`): fields in order, a name may
/// repeat (the checked boxes of a list).
struct ConsoleForm {
    let pairs: [(name: String, value: String)]

    init(_ body: Data) {
        pairs = String(decoding: body, as: UTF8.self).split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { return nil }
            return (name, parts.count > 1 ? Self.decode(parts[1]) ?? "" : "")
        }
    }

    subscript(_ name: String) -> String? { pairs.last { $0.name == name }?.value }

    func all(_ name: String) -> [String] { pairs.filter { $0.name == name }.map(\.value) }

    /// The fields as a dictionary (the last value of a repeated name).
    var fields: [String: String] {
        var fields: [String: String] = [:]
        for pair in pairs { fields[pair.name] = pair.value }
        return fields
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

extension String {
    /// Safe inside a path segment or a query value.
    var urlComponent: String {
        addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }
}
