using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace SharpProxy.Xds.Ads;

/// <summary>
/// Finds fields that arrived in an xDS resource but are outside the subset our descriptors describe. Binary protobuf keeps
/// them silently as unknown fields; a field we do not know could change routing, balancing or security, so each one is
/// reported with its path and field number and the caller decides (NACK, or ignore and count when listed as harmless).
/// </summary>
internal static class UnknownFields
{
    /// <summary>
    /// Fields (message full name, field number) that only observe or describe traffic, so ignoring them cannot route
    /// wrongly: Envoy features we do not have that istiod sends to every sidecar.
    /// </summary>
    private static readonly HashSet<(string Message, int Number)> Harmless =
    [
        ("envoy.config.route.v3.Route", 5),                // decorator (tracing span name)
        ("envoy.config.listener.v3.Listener", 22),         // access_log (listener-level)
        ("envoy.config.listener.v3.Listener", 5),          // per_connection_buffer_limit_bytes
        ("envoy.config.cluster.v3.Cluster", 25),           // metadata
        ("envoy.config.cluster.v3.Cluster", 7),            // per_connection_buffer_limit_bytes
        ("envoy.config.cluster.v3.Cluster", 17),           // dns_lookup_family (EDS clusters resolve nothing)
        ("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", 36), // request_id_extension (UUIDs, as ours)
        ("envoy.config.listener.v3.FilterChain", 9),       // transport_socket_connect_timeout (TLS handshakes only)
        ("envoy.config.route.v3.RouteConfiguration", 11),  // max_direct_response_body_size_bytes (a config-time limit)
        ("envoy.config.route.v3.VirtualHost", 14),         // include_request_attempt_count (an informational request header)
        ("envoy.config.route.v3.RouteAction", 23),         // max_grpc_timeout (Istio: 0s with timeout 0s, no limit either way)
        ("envoy.config.cluster.v3.Cluster", 28),           // alt_stat_name (stats naming)
        ("envoy.config.cluster.v3.Cluster", 20),           // cleanup_interval (ORIGINAL_DST host cleanup)
        ("envoy.config.cluster.v3.CircuitBreakers.Thresholds", 6), // track_remaining (remaining-capacity gauges)
        ("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", 5), // access_log (TCP)
        // HCM tracing fields beyond those SharpProxy honours: verbose, spawn_upstream_span, operation,
        // upstream_operation; metadata custom tags (istiod's RBAC dry-run tags); route tracing custom_tags.
        ("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", 6),
        ("envoy.type.tracing.v3.CustomTag", 5),
        ("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", 10),
        ("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", 11),
        ("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", 12),
        ("envoy.config.route.v3.Tracing", 4),
    ];

    /// <summary>Every unknown field under <paramref name="message"/>, as "path.#number"; harmless ones go to <paramref name="ignored"/>.</summary>
    public static List<string> Find(IMessage message, string path, List<string> ignored)
    {
        var found = new List<string>();
        Walk(message, path, found, ignored);
        return found;
    }

    /// <summary>A listener, including the HTTP connection managers packed in its filters' typed_config.</summary>
    public static List<string> FindInListener(Api.Config.Listener.V3.Listener listener, string path, List<string> ignored)
    {
        var found = Find(listener, path, ignored);
        for (var c = 0; c < listener.FilterChains.Count; c++)
        {
            FindInChain(listener.FilterChains[c], path + ".filter_chains[" + c + "]", found, ignored);
        }

        if (listener.DefaultFilterChain is { } defaultChain)
        {
            FindInChain(defaultChain, path + ".default_filter_chain", found, ignored);
        }

        return found;
    }

    private static void FindInChain(Api.Config.Listener.V3.FilterChain chain, string path, List<string> found, List<string> ignored)
    {
        var filters = chain.Filters;
        for (var f = 0; f < filters.Count; f++)
        {
            if (filters[f].TypedConfig is not { } any)
            {
                continue;
            }

            var filterPath = path + ".filters[" + f + "].typed_config";
            if (any.Is(Api.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager.Descriptor))
            {
                Walk(any.Unpack<Api.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager>(), filterPath, found, ignored);
            }
            else if (any.Is(Api.Extensions.Filters.Network.TcpProxy.V3.TcpProxy.Descriptor))
            {
                Walk(any.Unpack<Api.Extensions.Filters.Network.TcpProxy.V3.TcpProxy>(), filterPath, found, ignored);
            }
        }

        WalkTransportSocket(chain.TransportSocket, path + ".transport_socket.typed_config", found, ignored);
    }

    /// <summary>A cluster, including the TLS contexts packed in its transport sockets (a TLS field we skipped could weaken verification).</summary>
    public static List<string> FindInCluster(Api.Config.Cluster.V3.Cluster cluster, string path, List<string> ignored)
    {
        var found = Find(cluster, path, ignored);
        WalkTransportSocket(cluster.TransportSocket, path + ".transport_socket.typed_config", found, ignored);
        for (var i = 0; i < cluster.TransportSocketMatches.Count; i++)
        {
            WalkTransportSocket(cluster.TransportSocketMatches[i].TransportSocket, path + ".transport_socket_matches[" + i + "].transport_socket.typed_config", found, ignored);
        }

        return found;
    }

    private static void WalkTransportSocket(Api.Config.Core.V3.TransportSocket? socket, string path, List<string> found, List<string> ignored)
    {
        if (socket?.TypedConfig is not { } any)
        {
            return;
        }

        if (any.Is(Api.Extensions.TransportSockets.Tls.V3.DownstreamTlsContext.Descriptor))
        {
            Walk(any.Unpack<Api.Extensions.TransportSockets.Tls.V3.DownstreamTlsContext>(), path, found, ignored);
        }
        else if (any.Is(Api.Extensions.TransportSockets.Tls.V3.UpstreamTlsContext.Descriptor))
        {
            Walk(any.Unpack<Api.Extensions.TransportSockets.Tls.V3.UpstreamTlsContext>(), path, found, ignored);
        }
    }

    private static void Walk(IMessage message, string path, List<string> found, List<string> ignored)
    {
        foreach (var number in UnknownNumbers(message))
        {
            var entry = path + ".#" + number;
            if (Harmless.Contains((message.Descriptor.FullName, number)))
            {
                ignored.Add(entry);
            }
            else
            {
                found.Add(entry);
            }
        }

        foreach (var field in message.Descriptor.Fields.InDeclarationOrder())
        {
            if (field.FieldType != FieldType.Message)
            {
                continue;
            }

            var value = field.Accessor.GetValue(message);
            if (field.IsMap)
            {
                if (value is System.Collections.IDictionary map && field.MessageType.FindFieldByNumber(2) is { FieldType: FieldType.Message })
                {
                    foreach (System.Collections.DictionaryEntry entry in map)
                    {
                        if (entry.Value is IMessage child)
                        {
                            Walk(child, path + "." + field.Name + "[" + entry.Key + "]", found, ignored);
                        }
                    }
                }

                continue;
            }

            if (field.IsRepeated)
            {
                if (value is System.Collections.IList list)
                {
                    for (var i = 0; i < list.Count; i++)
                    {
                        if (list[i] is IMessage child)
                        {
                            Walk(child, path + "." + field.Name + "[" + i + "]", found, ignored);
                        }
                    }
                }

                continue;
            }

            // An Any's payload is checked when it is unpacked (see FindInAny).
            if (value is IMessage single and not Google.Protobuf.WellKnownTypes.Any)
            {
                Walk(single, path + "." + field.Name, found, ignored);
            }
        }
    }

    /// <summary>
    /// The field numbers held in the message's unknown field set. Google.Protobuf keeps the set in a private field of each
    /// generated class and exposes no reader (and reflection on private fields is not available in a native AOT build),
    /// so the numbers are read from the message's own wire form, which ends with that set: a field whose number the
    /// descriptor lacks, or whose wire type the declared type cannot have, is one the parser kept as unknown.
    /// </summary>
    private static List<int> UnknownNumbers(IMessage message)
    {
        var descriptor = message.Descriptor;
        var numbers = new List<int>();
        var input = new CodedInputStream(message.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var number = WireFormat.GetTagFieldNumber(tag);
            var field = descriptor.FindFieldByNumber(number);
            if ((field is null || !ParsedAs(field, WireFormat.GetTagWireType(tag))) && !numbers.Contains(number))
            {
                numbers.Add(number);
            }

            input.SkipLastField();
        }

        return numbers;
    }

    /// <summary>Whether the generated parser takes this wire type for the field (anything else goes to unknown fields).</summary>
    private static bool ParsedAs(FieldDescriptor field, WireFormat.WireType wireType)
    {
        if (field.IsMap)
        {
            return wireType == WireFormat.WireType.LengthDelimited;
        }

        var declared = field.FieldType switch
        {
            FieldType.Double or FieldType.Fixed64 or FieldType.SFixed64 => WireFormat.WireType.Fixed64,
            FieldType.Float or FieldType.Fixed32 or FieldType.SFixed32 => WireFormat.WireType.Fixed32,
            FieldType.String or FieldType.Bytes or FieldType.Message => WireFormat.WireType.LengthDelimited,
            FieldType.Group => WireFormat.WireType.StartGroup,
            _ => WireFormat.WireType.Varint,
        };

        // A repeated number arrives packed (one length-delimited run) or one value per tag; the parser takes both.
        return wireType == declared || (field.IsRepeated && wireType == WireFormat.WireType.LengthDelimited);
    }
}
