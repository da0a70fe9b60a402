import Hummingbird
import HTTPTypes

extension HTTPGateway {
    func addConsoleRoutes(to router: Router<GatewayContext>) {}
}
