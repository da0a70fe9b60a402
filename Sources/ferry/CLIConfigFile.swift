import ArgumentParser
import Foundation
import Yams

/// The ferry command line's own configuration file: where the broker is and which keys to use,
/// so that they need not be given with every command. Read from `$FERRY_CONFIG`, else
/// `$XDG_CONFIG_HOME/ferry/config.yaml` (by default `~/.config/ferry/config.yaml`) when it
/// exists. Flags win over the environment, which wins over the file.
///
/// ```yaml
/// broker: tcp://10.0.0.5:7400
/// server_key: keys/ferryd.key          # the server's public key, or its certificate file
/// client_key_file: keys/operator.key_secret
/// ```
///
/// Relative paths are relative to the file's directory.
struct CLIConfigFile: Decodable {
    var broker: String?
    var serverKey: String?
    var clientKeyFile: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case broker
        case serverKey = "server_key"
        case clientKeyFile = "client_key_file"
    }

    /// The file in effect for this process, read once (the endpoint and the keys both ask).
    static let inEffect = Result { try load() }

    /// The file in effect, if any: `FERRY_CONFIG` must name one that exists; the default path
    /// may be absent.
    static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CLIConfigFile? {
        let path: String
        if let named = environment["FERRY_CONFIG"], !named.isEmpty {
            path = named
        } else {
            let home = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.config")
            path = home + "/ferry/config.yaml"
            guard FileManager.default.fileExists(atPath: path) else { return nil }
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the configuration file \(path) (FERRY_CONFIG): \(error.localizedDescription)")
        }
        do {
            if let node = try Yams.compose(yaml: text), let mapping = node.mapping {
                let known = Set(CodingKeys.allCases.map(\.rawValue))
                for key in mapping.keys where !known.contains(key.string ?? "") {
                    throw ValidationError(
                        "\(path): unknown setting '\(key.string ?? "?")'; expected one of \(known.sorted().joined(separator: ", "))")
                }
            }
            var file = try YAMLDecoder().decode(CLIConfigFile.self, from: text)
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            file.clientKeyFile = file.clientKeyFile.map { Self.resolve($0, against: directory) }
            if let serverKey = file.serverKey, serverKey.utf8.count != 40 { file.serverKey = Self.resolve(serverKey, against: directory) }
            return file
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(path): \(error)")
        }
    }

    private static func resolve(_ path: String, against directory: URL) -> String {
        path.hasPrefix("/") ? path : directory.appendingPathComponent(path).path
    }
}
