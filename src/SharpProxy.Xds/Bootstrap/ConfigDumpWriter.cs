using System.Globalization;
using System.Text.Json.Nodes;
using Google.Protobuf;
using SharpProxy.Core.Snapshot;

namespace SharpProxy.Xds.Bootstrap;

/// <summary>/config_dump in Envoy's shape: BootstrapConfigDump, ListenersConfigDump, ClustersConfigDump, RoutesConfigDump.</summary>
internal static class ConfigDumpWriter
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithTypeRegistry(ApiTypes.Registry).WithPreserveProtoFieldNames(true));

    public static string Write(LoadedBootstrap bootstrap, ProxySnapshot snapshot)
    {
        var proto = bootstrap.Proto;
        var updated = snapshot.CreatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        var listeners = new JsonArray();
        var routes = new JsonArray();
        foreach (var listener in proto.StaticResources?.Listeners ?? [])
        {
            listeners.Add(new JsonObject { ["listener"] = Node(listener), ["last_updated"] = updated });
        }

        var clusters = new JsonArray();
        foreach (var cluster in proto.StaticResources?.Clusters ?? [])
        {
            clusters.Add(new JsonObject { ["cluster"] = Node(cluster), ["last_updated"] = updated });
        }

        var root = new JsonObject
        {
            ["configs"] = new JsonArray
            {
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
                    ["bootstrap"] = Node(proto),
                    ["last_updated"] = updated,
                },
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                    ["version_info"] = snapshot.Version.ToString(CultureInfo.InvariantCulture),
                    ["static_clusters"] = clusters,
                },
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                    ["version_info"] = snapshot.Version.ToString(CultureInfo.InvariantCulture),
                    ["static_listeners"] = listeners,
                },
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                    ["static_route_configs"] = routes,
                },
            },
        };
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static JsonNode? Node(IMessage message) => JsonNode.Parse(Formatter.Format(message));
}
