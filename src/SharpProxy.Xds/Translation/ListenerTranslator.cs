using System.Collections.Immutable;
using SharpProxy.Core.Configuration;
using HcmApi = SharpProxy.Xds.Api.Extensions.Filters.Network.HttpConnectionManager.V3;
using ListenerApi = SharpProxy.Xds.Api.Config.Listener.V3;
using TcpProxyApi = SharpProxy.Xds.Api.Extensions.Filters.Network.TcpProxy.V3;

namespace SharpProxy.Xds.Translation;

/// <summary>Envoy Listener -> <see cref="ListenerConfig"/>: filter chains, the HTTP connection manager and its inline routes.</summary>
internal static class ListenerTranslator
{
    public const string HttpConnectionManagerType = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
    public const string RouterType = "envoy.extensions.filters.http.router.v3.Router";
    public const string TcpProxyType = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
    public const string OriginalDstFilterType = "envoy.extensions.filters.listener.original_dst.v3.OriginalDst";
    public const string OriginalDstFilterName = "envoy.filters.listener.original_dst";
    public const string TlsInspectorFilterType = "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
    public const string TlsInspectorFilterName = "envoy.filters.listener.tls_inspector";
    public const string HttpInspectorFilterType = "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";
    public const string HttpInspectorFilterName = "envoy.filters.listener.http_inspector";
    public const string CorsType = "envoy.extensions.filters.http.cors.v3.Cors";

    public static ListenerConfig? Translate(ListenerApi.Listener listener, string path, TranslationErrors errors)
    {
        if (string.IsNullOrEmpty(listener.Name))
        {
            errors.Add(path + ".name", "a listener name is required");
        }

        if (!ProtoConvert.TryGetSocketAddress(listener.Address, path + ".address", errors, out var ip, out var port))
        {
            return null;
        }

        if (listener.FilterChains.Count == 0 && listener.DefaultFilterChain is null)
        {
            errors.Add(path + ".filter_chains", "at least one filter chain (or a default_filter_chain) is required");
        }

        var chains = ImmutableArray.CreateBuilder<FilterChainConfig>(listener.FilterChains.Count + 1);
        for (var i = 0; i < listener.FilterChains.Count; i++)
        {
            chains.Add(TranslateChain(listener.FilterChains[i], path + ".filter_chains[" + i + "]", errors));
        }

        if (listener.DefaultFilterChain is { } defaultChain)
        {
            // Kept last and never matched by criteria (FilterChainSelector falls back to it).
            chains.Add(TranslateChain(defaultChain, path + ".default_filter_chain", errors) with { IsDefault = true });
        }

        var restore = false;
        var tlsInspector = false;
        var httpInspector = false;
        for (var i = 0; i < listener.ListenerFilters.Count; i++)
        {
            var filter = listener.ListenerFilters[i];
            var filterPath = path + ".listener_filters[" + i + "]";
            var kind = filter.TypedConfig is null ? filter.Name : TypeName(filter.TypedConfig.TypeUrl);
            switch (kind)
            {
                case OriginalDstFilterName or OriginalDstFilterType:
                    restore = true;
                    break;
                case TlsInspectorFilterName or TlsInspectorFilterType:
                    tlsInspector = true;
                    break;
                case HttpInspectorFilterName or HttpInspectorFilterType:
                    httpInspector = true;
                    break;
                default:
                    errors.Add(filterPath, $"listener filter '{filter.Name}' ({filter.TypedConfig?.TypeUrl ?? "no typed_config"}) is not supported (only {OriginalDstFilterName}, {TlsInspectorFilterName}, {HttpInspectorFilterName})");
                    break;
            }
        }

        var filtersTimeout = listener.ListenerFiltersTimeout?.ToTimeSpan();
        if (filtersTimeout < TimeSpan.Zero)
        {
            errors.Add(path + ".listener_filters_timeout", "must not be negative");
        }

        // As Envoy once did on its own: chains that match on SNI or on "tls" need the inspector, listed or not. A
        // terminating chain uses it too: its handshake needs the client's ALPN list (see DownstreamTlsContext).
        var inspectTls = tlsInspector;
        foreach (var chain in chains)
        {
            inspectTls |= !chain.Match.ServerNames.IsDefaultOrEmpty || chain.Match.TransportProtocol == "tls" || chain.Tls is not null;
        }

        var handOff = listener.UseOriginalDst ?? false;
        return new ListenerConfig
        {
            Name = listener.Name,
            Address = ip,
            Port = port,
            Direction = listener.TrafficDirection switch
            {
                Api.Config.Core.V3.TrafficDirection.Inbound => TrafficDirection.Inbound,
                Api.Config.Core.V3.TrafficDirection.Outbound => TrafficDirection.Outbound,
                _ => TrafficDirection.Unspecified,
            },
            FilterChains = chains.ToImmutable(),
            BindToPort = listener.BindToPort ?? true,

            // Envoy's use_original_dst adds the original_dst listener filter itself.
            RestoreOriginalDestination = restore || handOff,
            HandOffToOriginalDestination = handOff,
            TlsInspector = tlsInspector,
            HttpInspector = httpInspector,
            ListenerFiltersTimeout = filtersTimeout > TimeSpan.Zero ? filtersTimeout : null,
            ContinueOnListenerFiltersTimeout = listener.ContinueOnListenerFiltersTimeout,
            InspectTls = inspectTls,
        };
    }

    private static FilterChainConfig TranslateChain(ListenerApi.FilterChain chain, string path, TranslationErrors errors)
    {
        var match = new FilterChainMatchConfig();
        if (chain.FilterChainMatch is { } m)
        {
            var matchPath = path + ".filter_chain_match";
            var ranges = ImmutableArray.CreateBuilder<CidrRange>();
            for (var i = 0; i < m.PrefixRanges.Count; i++)
            {
                if (ProtoConvert.TryParseCidr(m.PrefixRanges[i], matchPath + ".prefix_ranges[" + i + "]", errors, out var cidr))
                {
                    ranges.Add(cidr);
                }
            }

            for (var i = 0; i < m.ServerNames.Count; i++)
            {
                // Envoy: a leading "*." wildcard only; partial wildcards ("*w.example.com") are invalid.
                var name = m.ServerNames[i];
                if (name.Length == 0 || name.IndexOf('*', 1) >= 0 || (name[0] == '*' && (name.Length < 3 || name[1] != '.')))
                {
                    errors.Add(matchPath + ".server_names[" + i + "]", $"'{name}' is not a server name or a '*.suffix' wildcard");
                }
            }

            if (m.TransportProtocol.Length > 0 && m.TransportProtocol != "raw_buffer" && m.TransportProtocol != "tls")
            {
                errors.NotYetSupported(matchPath + ".transport_protocol", $"transport_protocol '{m.TransportProtocol}'");
            }

            if (m.DestinationPort is > 65535)
            {
                errors.Add(matchPath + ".destination_port", $"{m.DestinationPort} is not a valid port");
            }

            match = new FilterChainMatchConfig
            {
                DestinationPort = m.DestinationPort is { } p ? (int)p : null,
                PrefixRanges = ranges.ToImmutable(),
                ServerNames = [.. m.ServerNames.Select(static n => n.ToLowerInvariant())],
                TransportProtocol = m.TransportProtocol.Length > 0 ? m.TransportProtocol : null,
                ApplicationProtocols = [.. m.ApplicationProtocols],
            };
        }

        HttpConnectionManagerConfig? http = null;
        TcpProxyConfig? tcp = null;
        for (var i = 0; i < chain.Filters.Count; i++)
        {
            var filter = chain.Filters[i];
            var filterPath = path + ".filters[" + i + "]";
            if (filter.TypedConfig is null)
            {
                errors.Add(filterPath + ".typed_config", $"filter '{filter.Name}' needs a typed_config");
                continue;
            }

            var typeName = TypeName(filter.TypedConfig.TypeUrl);
            if (ObserveOnlyNetworkFilters.Contains(filter.Name))
            {
                // Istio's telemetry network filters (stats, TCP metadata exchange) never change where bytes go.
                continue;
            }

            if (typeName == TcpProxyType)
            {
                if (i != chain.Filters.Count - 1)
                {
                    errors.Add(filterPath, "the TCP proxy must be the last network filter");
                }

                tcp = TranslateTcpProxy(filter.TypedConfig.Unpack<TcpProxyApi.TcpProxy>(), filterPath + ".typed_config", errors);
                continue;
            }

            if (typeName != HttpConnectionManagerType)
            {
                errors.Add(filterPath + ".typed_config", $"unsupported network filter type URL '{filter.TypedConfig.TypeUrl}'");
                continue;
            }

            if (i != chain.Filters.Count - 1)
            {
                errors.Add(filterPath, "the HTTP connection manager must be the last network filter");
            }

            http = TranslateHcm(filter.TypedConfig.Unpack<HcmApi.HttpConnectionManager>(), filterPath + ".typed_config", errors);
        }

        var tls = TlsTranslator.TranslateDownstream(chain.TransportSocket, path + ".transport_socket", errors);

        return new FilterChainConfig { Name = chain.Name, Match = match, Http = http, TcpProxy = tcp, Tls = tls };
    }

    private static TcpProxyConfig? TranslateTcpProxy(TcpProxyApi.TcpProxy proxy, string path, TranslationErrors errors)
    {
        if (string.IsNullOrEmpty(proxy.StatPrefix))
        {
            errors.Add(path + ".stat_prefix", "a stat_prefix is required");
        }

        string? cluster = null;
        WeightedClustersConfig? weighted = null;
        switch (proxy.ClusterSpecifierCase)
        {
            case TcpProxyApi.TcpProxy.ClusterSpecifierOneofCase.Cluster:
                if (proxy.Cluster.Length == 0)
                {
                    errors.Add(path + ".cluster", "a cluster name is required");
                }

                cluster = proxy.Cluster;
                break;
            case TcpProxyApi.TcpProxy.ClusterSpecifierOneofCase.WeightedClusters:
                {
                    var clusters = ImmutableArray.CreateBuilder<WeightedClusterConfig>(proxy.WeightedClusters.Clusters.Count);
                    for (var i = 0; i < proxy.WeightedClusters.Clusters.Count; i++)
                    {
                        var entry = proxy.WeightedClusters.Clusters[i];
                        var entryPath = path + ".weighted_clusters.clusters[" + i + "]";
                        if (entry.Name.Length == 0)
                        {
                            errors.Add(entryPath + ".name", "a cluster name is required");
                        }

                        if (entry.Weight == 0)
                        {
                            errors.Add(entryPath + ".weight", "must be at least 1");
                        }

                        clusters.Add(new WeightedClusterConfig { Name = entry.Name, Weight = entry.Weight });
                    }

                    if (clusters.Count == 0)
                    {
                        errors.Add(path + ".weighted_clusters.clusters", "at least one cluster is required");
                    }

                    weighted = new WeightedClustersConfig { Clusters = clusters.MoveToImmutable() };
                    break;
                }

            default:
                errors.Add(path, "one of cluster, weighted_clusters is required");
                return null;
        }

        var idleTimeout = proxy.IdleTimeout?.ToTimeSpan() ?? TcpProxyConfig.DefaultIdleTimeout;
        if (idleTimeout < TimeSpan.Zero)
        {
            errors.Add(path + ".idle_timeout", "must not be negative");
        }

        var attempts = proxy.MaxConnectAttempts ?? 1u;
        if (attempts < 1)
        {
            errors.Add(path + ".max_connect_attempts", "must be at least 1");
        }

        return new TcpProxyConfig
        {
            StatPrefix = proxy.StatPrefix,
            Cluster = cluster,
            WeightedClusters = weighted,
            IdleTimeout = idleTimeout < TimeSpan.Zero ? TimeSpan.Zero : idleTimeout,
            MaxConnectAttempts = (int)Math.Clamp(attempts, 1u, 100u),
        };
    }

    private static RouteTableConfig? TranslateRds(HcmApi.Rds rds, string path, TranslationErrors errors)
    {
        if (rds.RouteConfigName.Length == 0)
        {
            errors.Add(path + ".route_config_name", "a route configuration name is required");
            return null;
        }

        if (rds.ConfigSource?.ConfigSourceSpecifierCase != Api.Config.Core.V3.ConfigSource.ConfigSourceSpecifierOneofCase.Ads)
        {
            errors.NotYetSupported(path + ".config_source", "an RDS config source other than ads: {}");
            return null;
        }

        if (errors.Routes is null)
        {
            errors.Add(path, "rds needs the bootstrap's dynamic_resources.ads_config (SharpProxy fetches routes over ADS only)");
            return null;
        }

        return errors.Routes.Find(rds.RouteConfigName);
    }

    private static HttpConnectionManagerConfig? TranslateHcm(HcmApi.HttpConnectionManager hcm, string path, TranslationErrors errors)
    {
        if (string.IsNullOrEmpty(hcm.StatPrefix))
        {
            errors.Add(path + ".stat_prefix", "a stat_prefix is required");
        }

        var codec = hcm.CodecType switch
        {
            HcmApi.HttpConnectionManager.Types.CodecType.Auto => CodecType.Auto,
            HcmApi.HttpConnectionManager.Types.CodecType.Http1 => CodecType.Http1,
            HcmApi.HttpConnectionManager.Types.CodecType.Http2 => CodecType.Http2,
            _ => (CodecType?)null,
        };
        if (codec is null)
        {
            errors.Add(path + ".codec_type", $"{hcm.CodecType} is not supported (AUTO, HTTP1, HTTP2)");
        }

        RouteTableConfig? routes = null;
        switch (hcm.RouteSpecifierCase)
        {
            case HcmApi.HttpConnectionManager.RouteSpecifierOneofCase.RouteConfig:
                routes = RouteTranslator.Translate(hcm.RouteConfig, path + ".route_config", errors);
                break;
            case HcmApi.HttpConnectionManager.RouteSpecifierOneofCase.Rds:
                routes = TranslateRds(hcm.Rds, path + ".rds", errors);
                break;
            default:
                errors.Add(path, "one of route_config, rds is required");
                break;
        }

        var faultFilter = CheckHttpFilters(hcm, path, errors, out var corsFilter);

        var webSocket = false;
        for (var i = 0; i < hcm.UpgradeConfigs.Count; i++)
        {
            var upgrade = hcm.UpgradeConfigs[i];
            var upgradePath = path + ".upgrade_configs[" + i + "]";
            if (!string.Equals(upgrade.UpgradeType, "websocket", StringComparison.OrdinalIgnoreCase))
            {
                errors.NotYetSupported(upgradePath + ".upgrade_type", $"upgrade type '{upgrade.UpgradeType}'");
                continue;
            }

            if (upgrade.Filters.Count > 0)
            {
                errors.NotYetSupported(upgradePath + ".filters", "upgrade-specific filters");
            }

            webSocket = upgrade.Enabled ?? true;
        }

        var accessLogs = ImmutableArray.CreateBuilder<AccessLogConfig>();
        for (var i = 0; i < hcm.AccessLog.Count; i++)
        {
            if (TranslateAccessLog(hcm.AccessLog[i], path + ".access_log[" + i + "]", errors) is { } log)
            {
                accessLogs.Add(log);
            }
        }

        if (hcm.RequestTimeout is not null)
        {
            errors.NotYetSupported(path + ".request_timeout", "request_timeout");
        }

        if (hcm.StreamIdleTimeout is not null && hcm.StreamIdleTimeout.ToTimeSpan() != TimeSpan.Zero)
        {
            // Zero (Istio's value) disables it, which is what SharpProxy does without one.
            errors.NotYetSupported(path + ".stream_idle_timeout", "a non-zero stream_idle_timeout");
        }

        if (hcm.PathWithEscapedSlashesAction is not (HcmApi.HttpConnectionManager.Types.PathWithEscapedSlashesAction.ImplementationSpecificDefault
            or HcmApi.HttpConnectionManager.Types.PathWithEscapedSlashesAction.KeepUnchanged))
        {
            errors.NotYetSupported(path + ".path_with_escaped_slashes_action", $"path_with_escaped_slashes_action {hcm.PathWithEscapedSlashesAction}");
        }

        if (hcm.ForwardClientCertDetails is not (HcmApi.HttpConnectionManager.Types.ForwardClientCertDetails.Sanitize
            or HcmApi.HttpConnectionManager.Types.ForwardClientCertDetails.AppendForward
            or HcmApi.HttpConnectionManager.Types.ForwardClientCertDetails.SanitizeSet
            or HcmApi.HttpConnectionManager.Types.ForwardClientCertDetails.AlwaysForwardOnly))
        {
            errors.NotYetSupported(path + ".forward_client_cert_details", $"forward_client_cert_details {hcm.ForwardClientCertDetails}");
        }

        if (hcm.CommonHttpProtocolOptions is not null)
        {
            errors.NotYetSupported(path + ".common_http_protocol_options", "downstream common_http_protocol_options");
        }

        return new HttpConnectionManagerConfig
        {
            StatPrefix = hcm.StatPrefix,
            Codec = codec ?? CodecType.Auto,
            RouteConfig = routes,
            ServerName = hcm.ServerName.Length > 0 ? hcm.ServerName : null,
            UseRemoteAddress = hcm.UseRemoteAddress ?? false,
            SkipXffAppend = hcm.SkipXffAppend,
            GenerateRequestId = hcm.GenerateRequestId ?? true,
            PreserveExternalRequestId = hcm.PreserveExternalRequestId,
            StripAnyHostPort = hcm.HasStripAnyHostPort && hcm.StripAnyHostPort,
            StripMatchingHostPort = hcm.StripMatchingHostPort,
            WebSocketUpgradeEnabled = webSocket,
            AccessLogs = accessLogs.ToImmutable(),
            Tracing = TracingTranslator.Hcm(hcm.Tracing, path + ".tracing", errors),
            FaultFilter = faultFilter,
            CorsFilter = corsFilter,
            NormalizePath = hcm.NormalizePath ?? false,

            // Without downstream TLS no connection presents a client certificate: Envoy then removes the header unless
            // ALWAYS_FORWARD_ONLY (set_current_client_cert_details has nothing to add).
            SanitizeForwardedClientCert = hcm.ForwardClientCertDetails != HcmApi.HttpConnectionManager.Types.ForwardClientCertDetails.AlwaysForwardOnly,
        };
    }

    public const string FileAccessLogType = "envoy.extensions.access_loggers.file.v3.FileAccessLog";
    public const string StdoutAccessLogType = "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
    public const string StderrAccessLogType = "envoy.extensions.access_loggers.stream.v3.StderrAccessLog";

    private static AccessLogConfig? TranslateAccessLog(Api.Config.AccessLog.V3.AccessLog log, string path, TranslationErrors errors)
    {
        if (log.TypedConfig is null)
        {
            errors.Add(path + ".typed_config", $"access log '{log.Name}' needs a typed_config");
            return null;
        }

        switch (TypeName(log.TypedConfig.TypeUrl))
        {
            case FileAccessLogType:
                {
                    var file = log.TypedConfig.Unpack<Api.Extensions.AccessLoggers.File.V3.FileAccessLog>();
                    if (string.IsNullOrEmpty(file.Path))
                    {
                        errors.Add(path + ".typed_config.path", "a file path is required");
                        return null;
                    }

                    var config = file.Path switch
                    {
                        "/dev/stdout" => new AccessLogConfig(AccessLogTarget.Stdout, null),
                        "/dev/stderr" => new AccessLogConfig(AccessLogTarget.Stderr, null),
                        _ => new AccessLogConfig(AccessLogTarget.File, file.Path),
                    };
                    return WithFormat(config, file.LogFormat, path + ".typed_config.log_format", errors);
                }

            case StdoutAccessLogType:
                return WithFormat(
                    new AccessLogConfig(AccessLogTarget.Stdout, null),
                    log.TypedConfig.Unpack<Api.Extensions.AccessLoggers.Stream.V3.StdoutAccessLog>().LogFormat,
                    path + ".typed_config.log_format",
                    errors);
            case StderrAccessLogType:
                return WithFormat(
                    new AccessLogConfig(AccessLogTarget.Stderr, null),
                    log.TypedConfig.Unpack<Api.Extensions.AccessLoggers.Stream.V3.StderrAccessLog>().LogFormat,
                    path + ".typed_config.log_format",
                    errors);
            default:
                errors.Add(path + ".typed_config", $"unsupported access logger type URL '{log.TypedConfig.TypeUrl}'");
                return null;
        }
    }

    private static AccessLogConfig WithFormat(AccessLogConfig config, Api.Config.Core.V3.SubstitutionFormatString? format, string path, TranslationErrors errors) =>
        TracingTranslator.Format(format, path, errors) is { } compiled ? config with { Format = compiled } : config;

    /// <summary>
    /// HTTP filters that only observe traffic (Istio's stats, metadata exchange and ALPN; gRPC stats): skipping them cannot
    /// change a routing decision, and istiod sends them to every sidecar without is_optional.
    /// </summary>
    private static readonly HashSet<string> ObserveOnlyFilters = new(StringComparer.Ordinal)
    {
        "istio.metadata_exchange",
        "istio.stats",
        "istio.alpn",
        "envoy.filters.http.grpc_stats",
    };

    /// <summary>
    /// Network filters that only observe: Istio's istio.stats (stats.PluginConfig) and istio.metadata_exchange
    /// (envoy.tcp.metadataexchange.config.MetadataExchange, which acts only on mTLS connections negotiated with ALPN
    /// istio-peer-exchange), sent before the tcp_proxy / HCM of Istio's chains.
    /// </summary>
    private static readonly HashSet<string> ObserveOnlyNetworkFilters = new(StringComparer.Ordinal)
    {
        "istio.stats",
        "istio.metadata_exchange",
    };

    /// <returns>The fault filter's config when the chain has one.</returns>
    private static FaultConfig? CheckHttpFilters(HcmApi.HttpConnectionManager hcm, string path, TranslationErrors errors, out bool cors)
    {
        cors = false;
        var filters = hcm.HttpFilters;
        if (filters.Count == 0)
        {
            errors.Add(path + ".http_filters", "the router filter (envoy.filters.http.router) is required as the last HTTP filter");
            return null;
        }

        FaultConfig? fault = null;
        for (var i = 0; i < filters.Count; i++)
        {
            var filter = filters[i];
            var filterPath = path + ".http_filters[" + i + "]";
            var isRouter = filter.TypedConfig is null
                ? filter.Name == "envoy.filters.http.router"
                : TypeName(filter.TypedConfig.TypeUrl) == RouterType;
            if (!isRouter)
            {
                if (filter.TypedConfig is { } typed && typed.Is(Api.Extensions.Filters.Http.Fault.V3.HTTPFault.Descriptor) && !filter.Disabled)
                {
                    fault = FaultTranslator.Translate(typed.Unpack<Api.Extensions.Filters.Http.Fault.V3.HTTPFault>(), filterPath + ".typed_config", errors);
                    continue;
                }

                if (filter.TypedConfig is { } corsTyped && TypeName(corsTyped.TypeUrl) == CorsType && !filter.Disabled)
                {
                    // Cors has no fields of its own: the policies come per route / virtual host.
                    cors = true;
                    continue;
                }

                if (filter.IsOptional || filter.Disabled || ObserveOnlyFilters.Contains(filter.Name))
                {
                    continue;
                }

                errors.Add(filterPath, $"HTTP filter '{filter.Name}' ({filter.TypedConfig?.TypeUrl ?? "no typed_config"}) is not supported");
                continue;
            }

            if (i != filters.Count - 1)
            {
                errors.Add(filterPath, "the router filter must be the last HTTP filter");
            }
        }

        return fault;
    }

    public static string TypeName(string typeUrl)
    {
        var slash = typeUrl.LastIndexOf('/');
        return slash >= 0 ? typeUrl[(slash + 1)..] : typeUrl;
    }
}
