using System.Globalization;
using System.Text.Json.Nodes;
using Google.Protobuf;
using SharpProxy.Core.Snapshot;

namespace SharpProxy.Xds.Bootstrap;

/// <summary>/config_dump in Envoy's shape: BootstrapConfigDump, ListenersConfigDump, ClustersConfigDump, RoutesConfigDump.</summary>
internal static class ConfigDumpWriter
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithTypeRegistry(ApiTypes.Registry).WithPreserveProtoFieldNames(true));

    public static string Write(LoadedBootstrap bootstrap, ProxySnapshot snapshot, Ads.XdsState? dynamicState = null)
    {
        var proto = bootstrap.Proto;
        var updated = snapshot.CreatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        var listeners = new JsonArray();
        var routes = new JsonArray();
        foreach (var listener in proto.StaticResources?.Listeners ?? [])
        {
            listeners.Add((JsonNode)new JsonObject { ["listener"] = Node(listener), ["last_updated"] = updated });
        }

        var clusters = new JsonArray();
        foreach (var cluster in proto.StaticResources?.Clusters ?? [])
        {
            clusters.Add((JsonNode)new JsonObject { ["cluster"] = Node(cluster), ["last_updated"] = updated });
        }

        var root = new JsonObject
        {
            // JsonNode-typed elements: JsonArray's generic Add (what an initializer of JsonObjects binds to) is marked as
            // needing reflection, which a trimmed or native AOT build does not keep.
            ["configs"] = new JsonArray(
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
                    ["bootstrap"] = Node(proto),
                    ["last_updated"] = updated,
                },
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                    ["version_info"] = dynamicState?.VersionOf(Ads.XdsTypes.Cluster) ?? snapshot.Version.ToString(CultureInfo.InvariantCulture),
                    ["static_clusters"] = clusters,
                    ["dynamic_active_clusters"] = Dynamic(dynamicState?.Clusters, "cluster"),
                },
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                    ["version_info"] = dynamicState?.VersionOf(Ads.XdsTypes.Listener) ?? snapshot.Version.ToString(CultureInfo.InvariantCulture),
                    ["static_listeners"] = listeners,
                    ["dynamic_listeners"] = DynamicListeners(dynamicState),
                },
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                    ["static_route_configs"] = routes,
                    ["dynamic_route_configs"] = Dynamic(dynamicState?.RouteProtos, "route_config"),
                },
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
                    ["dynamic_endpoint_configs"] = Dynamic(dynamicState?.Endpoints, "endpoint_config"),
                },
                new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                    ["static_secrets"] = StaticSecrets(proto, updated),
                    ["dynamic_active_secrets"] = DynamicSecrets(dynamicState),
                }),
        };
        RedactPrivateKeys(root);
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static JsonArray StaticSecrets(Api.Config.Bootstrap.V3.Bootstrap proto, string updated)
    {
        var array = new JsonArray();
        foreach (var secret in proto.StaticResources?.Secrets ?? [])
        {
            array.Add((JsonNode)new JsonObject { ["name"] = secret.Name, ["last_updated"] = updated, ["secret"] = Node(secret) });
        }

        return array;
    }

    private static JsonArray DynamicSecrets(Ads.XdsState? state)
    {
        var array = new JsonArray();
        foreach (var entry in Dynamic(state?.Secrets, "secret"))
        {
            var active = entry!.AsObject();
            active["name"] = active["secret"]?["name"]?.GetValue<string>() ?? "";
            array.Add(active.DeepClone());
        }

        return array;
    }

    /// <summary>
    /// As Envoy's dump does, private keys never leave the process: an inline TlsCertificate.private_key (in the
    /// bootstrap, xDS resources or secrets) is shown as "[redacted]"; file names stay.
    /// </summary>
    private static void RedactPrivateKeys(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, value) in obj.ToList())
                {
                    if (name == "private_key" && value is JsonObject key)
                    {
                        foreach (var field in new[] { "inline_string", "inline_bytes" })
                        {
                            if (key.ContainsKey(field))
                            {
                                key[field] = "[redacted]";
                            }
                        }

                        continue;
                    }

                    RedactPrivateKeys(value);
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    RedactPrivateKeys(item);
                }

                break;
        }
    }

    /// <summary>Envoy's dynamic entries: version_info, the resource under its key, last_updated.</summary>
    private static JsonArray Dynamic<T>(System.Collections.Immutable.ImmutableDictionary<string, Ads.XdsResource<T>>? resources, string key)
        where T : IMessage
    {
        var array = new JsonArray();
        if (resources is null)
        {
            return array;
        }

        foreach (var name in resources.Keys.Order(StringComparer.Ordinal))
        {
            var resource = resources[name];
            array.Add((JsonNode)new JsonObject
            {
                ["version_info"] = resource.Version,
                [key] = Node(resource.Message),
                ["last_updated"] = Timestamp(resource.LastUpdated),
            });
        }

        return array;
    }

    private static JsonArray DynamicListeners(Ads.XdsState? state)
    {
        var array = new JsonArray();
        foreach (var entry in Dynamic(state?.Listeners, "listener"))
        {
            var active = entry!.AsObject();
            var name = active["listener"]?["name"]?.GetValue<string>() ?? "";
            array.Add((JsonNode)new JsonObject { ["name"] = name, ["active_state"] = active.DeepClone() });
        }

        return array;
    }

    private static string Timestamp(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    private static JsonNode? Node(IMessage message) => JsonNode.Parse(Formatter.Format(message));
}
