using System.Collections.Immutable;
using System.Net;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.LoadBalancing;
using ClusterApi = SharpProxy.Xds.Api.Config.Cluster.V3;
using LbApi = SharpProxy.Xds.Api.Extensions.LoadBalancingPolicies;
using CoreApi = SharpProxy.Xds.Api.Config.Core.V3;
using UpstreamApi = SharpProxy.Xds.Api.Extensions.Upstreams.Http.V3;

namespace SharpProxy.Xds.Translation;

/// <summary>Envoy Cluster -> <see cref="ClusterConfig"/>.</summary>
internal static class ClusterTranslator
{
    public const string HttpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    public const string HttpProtocolOptionsType = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

    public static ClusterConfig? Translate(ClusterApi.Cluster cluster, string path, TranslationErrors errors)
    {
        if (string.IsNullOrEmpty(cluster.Name))
        {
            errors.Add(path + ".name", "a cluster name is required");
            return null;
        }

        if (cluster.LoadBalancingPolicy is { } extension)
        {
            cluster = ApplyLoadBalancingPolicy(cluster, extension, path + ".load_balancing_policy", errors);
        }

        if (cluster.DnsRefreshRate is not null)
        {
            // STRICT_DNS names are resolved once, when the config is applied; a refresh rate would promise re-resolution.
            errors.NotYetSupported(path + ".dns_refresh_rate", "dns_refresh_rate (STRICT_DNS resolves once, when the config is applied)");
        }

        var type = cluster.Type switch
        {
            ClusterApi.Cluster.Types.DiscoveryType.Static => ClusterDiscoveryType.Static,
            ClusterApi.Cluster.Types.DiscoveryType.StrictDns => ClusterDiscoveryType.StrictDns,
            ClusterApi.Cluster.Types.DiscoveryType.OriginalDst => ClusterDiscoveryType.OriginalDst,
            _ => (ClusterDiscoveryType?)null,
        };
        if (type is null)
        {
            errors.NotYetSupported(path + ".type", $"cluster type {cluster.Type}");
        }

        var policy = cluster.LbPolicy switch
        {
            ClusterApi.Cluster.Types.LbPolicy.RoundRobin => LbPolicyKind.RoundRobin,
            ClusterApi.Cluster.Types.LbPolicy.LeastRequest => LbPolicyKind.LeastRequest,
            ClusterApi.Cluster.Types.LbPolicy.Random => LbPolicyKind.Random,
            ClusterApi.Cluster.Types.LbPolicy.RingHash => LbPolicyKind.RingHash,
            ClusterApi.Cluster.Types.LbPolicy.Maglev => LbPolicyKind.Maglev,
            ClusterApi.Cluster.Types.LbPolicy.ClusterProvided => LbPolicyKind.ClusterProvided,
            _ => (LbPolicyKind?)null,
        };
        if (policy is null)
        {
            errors.NotYetSupported(path + ".lb_policy", $"lb_policy {cluster.LbPolicy}");
        }

        // As Envoy: ORIGINAL_DST and CLUSTER_PROVIDED go together, and the hosts come from the connections.
        if (type == ClusterDiscoveryType.OriginalDst && policy is not null && policy != LbPolicyKind.ClusterProvided)
        {
            errors.Add(path + ".lb_policy", $"lb_policy {cluster.LbPolicy} is not valid for cluster type ORIGINAL_DST; only CLUSTER_PROVIDED is allowed");
        }

        if (policy == LbPolicyKind.ClusterProvided && type is not null && type != ClusterDiscoveryType.OriginalDst)
        {
            errors.Add(path + ".lb_policy", $"lb_policy CLUSTER_PROVIDED is only valid for cluster type ORIGINAL_DST, not {cluster.Type}");
        }

        if (type == ClusterDiscoveryType.OriginalDst && cluster.LoadAssignment is { Endpoints.Count: > 0 })
        {
            errors.Add(path + ".load_assignment", "ORIGINAL_DST clusters must have no endpoints (they connect to each connection's original destination)");
        }

        string? bindAddress = null;
        var bindPort = 0;
        if (cluster.UpstreamBindConfig is { } bindConfig)
        {
            var bindPath = path + ".upstream_bind_config.source_address";
            var source = bindConfig.SourceAddress;
            if (source is null || source.Address.Length == 0)
            {
                errors.Add(bindPath, "a source address is required");
            }
            else if (!IPAddress.TryParse(source.Address, out _))
            {
                errors.Add(bindPath + ".address", $"'{source.Address}' is not an IP address");
            }
            else if (source.PortValue > 65535)
            {
                errors.Add(bindPath + ".port_value", $"{source.PortValue} is not a valid port");
            }
            else
            {
                bindAddress = source.Address;
                bindPort = (int)source.PortValue;
            }
        }

        for (var i = 0; i < cluster.Filters.Count; i++)
        {
            // Istio's upstream istio.metadata_exchange only acts on mTLS connections negotiated with ALPN
            // istio-peer-exchange; any other upstream filter could change the bytes sent.
            if (cluster.Filters[i].Name != "istio.metadata_exchange")
            {
                errors.NotYetSupported(path + ".filters[" + i + "]", $"upstream filter '{cluster.Filters[i].Name}'");
            }
        }

        if (cluster.EdsClusterConfig is not null)
        {
            errors.NotYetSupported(path + ".eds_cluster_config", "eds_cluster_config");
        }

        var (defaultBreakers, highBreakers) = TranslateCircuitBreakers(cluster.CircuitBreakers, path + ".circuit_breakers", errors);
        var outlierDetection = cluster.OutlierDetection is { } outlier
            ? TranslateOutlierDetection(outlier, path + ".outlier_detection", errors)
            : null;

        // Envoy reads the lb config matching lb_policy and ignores the others; the values are validated either way.
        var ringMin = RingHashTable.DefaultMinimumRingSize;
        var ringMax = RingHashTable.DefaultMaximumRingSize;
        var ringHash = RingHashFunction.XxHash;
        var maglevSize = MaglevTable.DefaultTableSize;
        var choiceCount = LeastRequestBalancer.DefaultChoiceCount;
        if (cluster.RingHashLbConfig is { } ring)
        {
            var ringPath = path + ".ring_hash_lb_config";
            ringMin = ring.MinimumRingSize ?? ringMin;
            ringMax = ring.MaximumRingSize ?? ringMax;
            if (ringMin > RingHashTable.RingSizeLimit)
            {
                errors.Add(ringPath + ".minimum_ring_size", $"must be at most {RingHashTable.RingSizeLimit}");
            }
            else if (ringMin == 0)
            {
                errors.Add(ringPath + ".minimum_ring_size", "must be at least 1");
            }

            if (ringMax > RingHashTable.RingSizeLimit)
            {
                errors.Add(ringPath + ".maximum_ring_size", $"must be at most {RingHashTable.RingSizeLimit}");
            }
            else if (ringMin > ringMax)
            {
                errors.Add(ringPath + ".minimum_ring_size", $"ring hash: minimum_ring_size ({ringMin}) > maximum_ring_size ({ringMax})");
            }

            switch (ring.HashFunction)
            {
                case ClusterApi.Cluster.Types.RingHashLbConfig.Types.HashFunction.XxHash:
                    ringHash = RingHashFunction.XxHash;
                    break;
                case ClusterApi.Cluster.Types.RingHashLbConfig.Types.HashFunction.MurmurHash2:
                    ringHash = RingHashFunction.MurmurHash2;
                    break;
                default:
                    errors.Add(ringPath + ".hash_function", $"unknown hash function {ring.HashFunction}");
                    break;
            }
        }

        if (cluster.MaglevLbConfig is { } maglev)
        {
            maglevSize = maglev.TableSize ?? maglevSize;
            if (maglevSize > MaglevTable.MaximumTableSize)
            {
                errors.Add(path + ".maglev_lb_config.table_size", $"must be at most {MaglevTable.MaximumTableSize}");
            }
            else if (!MaglevTable.IsPrime(maglevSize))
            {
                errors.Add(path + ".maglev_lb_config.table_size", $"The table size of maglev must be prime number ({maglevSize})");
            }
        }

        if (cluster.LeastRequestLbConfig is { } leastRequest)
        {
            var count = leastRequest.ChoiceCount ?? (uint)choiceCount;
            if (count < 2)
            {
                errors.Add(path + ".least_request_lb_config.choice_count", "must be at least 2");
            }
            else
            {
                choiceCount = (int)Math.Min(count, 1024u);
            }
        }

        var panicThreshold = 50;
        if (cluster.CommonLbConfig?.HealthyPanicThreshold is { } panic)
        {
            if (double.IsNaN(panic.Value) || panic.Value < 0 || panic.Value > 100)
            {
                errors.Add(path + ".common_lb_config.healthy_panic_threshold.value", "must be between 0 and 100");
            }
            else
            {
                // Envoy rounds the percentage to a whole number (PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT).
                panicThreshold = (int)Math.Round(panic.Value, MidpointRounding.AwayFromZero);
            }
        }

        var connectTimeout = cluster.ConnectTimeout?.ToTimeSpan() ?? TimeSpan.FromSeconds(5);
        if (connectTimeout <= TimeSpan.Zero)
        {
            errors.Add(path + ".connect_timeout", "must be greater than 0");
        }

        var protocol = UpstreamProtocol.Http1;
        TimeSpan? idleTimeout = null;
        foreach (var (key, any) in cluster.TypedExtensionProtocolOptions)
        {
            var optionPath = path + ".typed_extension_protocol_options[\"" + key + "\"]";
            if (ListenerTranslator.TypeName(any.TypeUrl) != HttpProtocolOptionsType)
            {
                errors.Add(optionPath, $"unsupported protocol options type URL '{any.TypeUrl}'");
                continue;
            }

            var options = any.Unpack<UpstreamApi.HttpProtocolOptions>();
            switch (options.UpstreamProtocolOptionsCase)
            {
                case UpstreamApi.HttpProtocolOptions.UpstreamProtocolOptionsOneofCase.ExplicitHttpConfig:
                    protocol = options.ExplicitHttpConfig.ProtocolConfigCase switch
                    {
                        UpstreamApi.HttpProtocolOptions.Types.ExplicitHttpConfig.ProtocolConfigOneofCase.Http2ProtocolOptions => UpstreamProtocol.Http2,
                        _ => UpstreamProtocol.Http1,
                    };
                    CheckHttp2Options(options.ExplicitHttpConfig.Http2ProtocolOptions, optionPath + ".explicit_http_config.http2_protocol_options", errors);
                    break;
                case UpstreamApi.HttpProtocolOptions.UpstreamProtocolOptionsOneofCase.UseDownstreamProtocolConfig:
                    protocol = UpstreamProtocol.UseDownstream;
                    CheckHttp2Options(options.UseDownstreamProtocolConfig.Http2ProtocolOptions, optionPath + ".use_downstream_protocol_config.http2_protocol_options", errors);
                    break;
                default:
                    errors.Add(optionPath, "one of explicit_http_config, use_downstream_protocol_config is required");
                    break;
            }

            if (options.CommonHttpProtocolOptions is { } common)
            {
                idleTimeout = common.IdleTimeout?.ToTimeSpan();
                if (common.MaxRequestsPerConnection is not null)
                {
                    errors.NotYetSupported(optionPath + ".common_http_protocol_options.max_requests_per_connection", "max_requests_per_connection");
                }
            }
        }

        var endpoints = ImmutableArray.CreateBuilder<EndpointConfig>();
        if (cluster.LoadAssignment is { } assignment)
        {
            var assignmentPath = path + ".load_assignment";
            if (assignment.Policy is not null)
            {
                errors.NotYetSupported(assignmentPath + ".policy", "load_assignment.policy");
            }

            for (var l = 0; l < assignment.Endpoints.Count; l++)
            {
                var locality = assignment.Endpoints[l];
                var localityPath = assignmentPath + ".endpoints[" + l + "]";
                // A locality's load_balancing_weight is accepted and unused: Envoy too ignores it unless
                // common_lb_config.locality_weighted_lb_config is set (not in our descriptors, so NACKed as unknown).

                for (var e = 0; e < locality.LbEndpoints.Count; e++)
                {
                    var lbEndpoint = locality.LbEndpoints[e];
                    var endpointPath = localityPath + ".lb_endpoints[" + e + "]";
                    if (lbEndpoint.Endpoint is null)
                    {
                        errors.Add(endpointPath + ".endpoint", "an endpoint is required");
                        continue;
                    }

                    if (!ProtoConvert.TryGetSocketAddress(lbEndpoint.Endpoint.Address, endpointPath + ".endpoint.address", errors, out var address, out var port))
                    {
                        continue;
                    }

                    if (type == ClusterDiscoveryType.Static && !IPAddress.TryParse(address, out _))
                    {
                        errors.Add(endpointPath + ".endpoint.address.socket_address.address", $"'{address}' must be an IP address in a STATIC cluster (use STRICT_DNS for names)");
                        continue;
                    }

                    if (port == 0)
                    {
                        errors.Add(endpointPath + ".endpoint.address.socket_address.port_value", "a port is required");
                        continue;
                    }

                    var weight = lbEndpoint.LoadBalancingWeight ?? 1u;
                    if (weight == 0)
                    {
                        errors.Add(endpointPath + ".load_balancing_weight", "must be at least 1");
                    }

                    endpoints.Add(new EndpointConfig
                    {
                        Address = address,
                        Port = port,
                        Hostname = lbEndpoint.Endpoint.Hostname.Length > 0 ? lbEndpoint.Endpoint.Hostname : null,
                        Weight = Math.Max(1u, weight),
                        Priority = (int)locality.Priority,
                        Health = (EndpointHealthStatus)(int)lbEndpoint.HealthStatus,
                        Metadata = ProtoConvert.Metadata(lbEndpoint.Metadata),
                    });
                }
            }
        }

        var tls = TlsTranslator.TranslateUpstream(cluster.TransportSocket, path + ".transport_socket", errors);
        var socketMatches = ImmutableArray.CreateBuilder<TransportSocketMatchConfig>(cluster.TransportSocketMatches.Count);
        for (var i = 0; i < cluster.TransportSocketMatches.Count; i++)
        {
            var socketMatch = cluster.TransportSocketMatches[i];
            var matchPath = path + ".transport_socket_matches[" + i + "]";
            if (socketMatch.Name.Length == 0)
            {
                errors.Add(matchPath + ".name", "a name is required");
            }

            socketMatches.Add(new TransportSocketMatchConfig(
                socketMatch.Name,
                ProtoConvert.Struct(socketMatch.Match),
                TlsTranslator.TranslateUpstream(socketMatch.TransportSocket, matchPath + ".transport_socket", errors)));
        }

        return new ClusterConfig
        {
            Tls = tls,
            TransportSocketMatches = socketMatches.MoveToImmutable(),
            Name = cluster.Name,
            Type = type ?? ClusterDiscoveryType.Static,
            LbPolicy = policy ?? LbPolicyKind.RoundRobin,
            RingMinimumSize = ringMin,
            RingMaximumSize = ringMax,
            RingHashFunction = ringHash,
            MaglevTableSize = maglevSize,
            LeastRequestChoiceCount = choiceCount,
            HealthyPanicThreshold = panicThreshold,
            OutlierDetection = outlierDetection,
            CircuitBreakers = defaultBreakers,
            HighPriorityCircuitBreakers = highBreakers,
            ConnectTimeout = connectTimeout,
            Protocol = protocol,
            IdleTimeout = idleTimeout,
            Endpoints = endpoints.ToImmutable(),
            Metadata = ProtoConvert.Metadata(cluster.Metadata),
            UpstreamBindAddress = bindAddress,
            UpstreamBindPort = bindPort,
        };
    }

    private static (CircuitBreakerThresholds Default, CircuitBreakerThresholds High) TranslateCircuitBreakers(ClusterApi.CircuitBreakers? breakers, string path, TranslationErrors errors)
    {
        CircuitBreakerThresholds? defaultThresholds = null;
        CircuitBreakerThresholds? highThresholds = null;
        if (breakers is null)
        {
            return (CircuitBreakerThresholds.Default, CircuitBreakerThresholds.Default);
        }

        for (var i = 0; i < breakers.Thresholds.Count; i++)
        {
            var entry = breakers.Thresholds[i];
            var entryPath = path + ".thresholds[" + i + "]";
            var thresholds = new CircuitBreakerThresholds
            {
                MaxConnections = entry.MaxConnections ?? 1024,
                MaxPendingRequests = entry.MaxPendingRequests ?? 1024,
                MaxRequests = entry.MaxRequests ?? 1024,
                MaxRetries = entry.MaxRetries ?? 3,
            };

            // Envoy uses the first entry for each priority and ignores later ones.
            switch (entry.Priority)
            {
                case CoreApi.RoutingPriority.Default:
                    defaultThresholds ??= thresholds;
                    break;
                case CoreApi.RoutingPriority.High:
                    highThresholds ??= thresholds;
                    break;
                default:
                    errors.Add(entryPath + ".priority", $"unknown routing priority {entry.Priority}");
                    break;
            }
        }

        return (defaultThresholds ?? CircuitBreakerThresholds.Default, highThresholds ?? CircuitBreakerThresholds.Default);
    }

    private static OutlierDetectionConfig TranslateOutlierDetection(ClusterApi.OutlierDetection outlier, string path, TranslationErrors errors)
    {
        if (outlier.SplitExternalLocalOriginErrors)
        {
            errors.NotYetSupported(path + ".split_external_local_origin_errors", "split_external_local_origin_errors");
        }

        var interval = PositiveDuration(outlier.Interval, TimeSpan.FromSeconds(10), path + ".interval", errors);
        var baseEjection = PositiveDuration(outlier.BaseEjectionTime, TimeSpan.FromSeconds(30), path + ".base_ejection_time", errors);
        // Envoy: an unset max_ejection_time is the larger of 300 s and base_ejection_time; a set one below base is an error.
        var maxEjection = outlier.MaxEjectionTime is null
            ? (baseEjection > TimeSpan.FromSeconds(300) ? baseEjection : TimeSpan.FromSeconds(300))
            : PositiveDuration(outlier.MaxEjectionTime, TimeSpan.FromSeconds(300), path + ".max_ejection_time", errors);
        if (maxEjection < baseEjection)
        {
            errors.Add(path + ".max_ejection_time", "outlier detector's max_ejection_time cannot be smaller than base_ejection_time");
        }

        return new OutlierDetectionConfig
        {
            Consecutive5xx = (int)Math.Min(outlier.Consecutive5Xx ?? 5u, int.MaxValue),
            ConsecutiveGatewayFailure = (int)Math.Min(outlier.ConsecutiveGatewayFailure ?? 5u, int.MaxValue),
            Interval = interval,
            BaseEjectionTime = baseEjection,
            MaxEjectionTime = maxEjection,
            MaxEjectionPercent = Percent(outlier.MaxEjectionPercent, 10, path + ".max_ejection_percent", errors),
            EnforcingConsecutive5xx = Percent(outlier.EnforcingConsecutive5Xx, 100, path + ".enforcing_consecutive_5xx", errors),
            EnforcingConsecutiveGatewayFailure = Percent(outlier.EnforcingConsecutiveGatewayFailure, 0, path + ".enforcing_consecutive_gateway_failure", errors),
            EnforcingSuccessRate = Percent(outlier.EnforcingSuccessRate, 100, path + ".enforcing_success_rate", errors),
            SuccessRateMinimumHosts = (int)Math.Min(outlier.SuccessRateMinimumHosts ?? 5u, int.MaxValue),
            SuccessRateRequestVolume = outlier.SuccessRateRequestVolume ?? 100u,
            SuccessRateStdevFactor = (int)Math.Min(outlier.SuccessRateStdevFactor ?? 1900u, int.MaxValue),
            FailurePercentageThreshold = Percent(outlier.FailurePercentageThreshold, 85, path + ".failure_percentage_threshold", errors),
            EnforcingFailurePercentage = Percent(outlier.EnforcingFailurePercentage, 0, path + ".enforcing_failure_percentage", errors),
            FailurePercentageMinimumHosts = (int)Math.Min(outlier.FailurePercentageMinimumHosts ?? 5u, int.MaxValue),
            FailurePercentageRequestVolume = outlier.FailurePercentageRequestVolume ?? 50u,
        };
    }

    private static TimeSpan PositiveDuration(Google.Protobuf.WellKnownTypes.Duration? value, TimeSpan fallback, string path, TranslationErrors errors)
    {
        if (value is null)
        {
            return fallback;
        }

        var span = value.ToTimeSpan();
        if (span <= TimeSpan.Zero)
        {
            errors.Add(path, "must be greater than 0");
            return fallback;
        }

        return span;
    }

    private static int Percent(uint? value, int fallback, string path, TranslationErrors errors)
    {
        if (value is null)
        {
            return fallback;
        }

        if (value > 100)
        {
            errors.Add(path, "must be at most 100");
            return fallback;
        }

        return (int)value.Value;
    }

    private static void CheckHttp2Options(CoreApi.Http2ProtocolOptions? options, string path, TranslationErrors errors)
    {
        if (options is null)
        {
            return;
        }

        if (options.MaxConcurrentStreams is not null)
        {
            errors.NotYetSupported(path + ".max_concurrent_streams", "max_concurrent_streams");
        }

        if (options.InitialStreamWindowSize is not null)
        {
            errors.NotYetSupported(path + ".initial_stream_window_size", "initial_stream_window_size");
        }

        if (options.InitialConnectionWindowSize is not null)
        {
            errors.NotYetSupported(path + ".initial_connection_window_size", "initial_connection_window_size");
        }
    }

    /// <summary>
    /// <c>load_balancing_policy</c>: Envoy takes the first policy in the list it supports and ignores <c>lb_policy</c>.
    /// The typed extensions carry the same settings as the legacy <c>lb_policy</c> + <c>*_lb_config</c> pair, so the
    /// chosen one is written back in that form and translated by the same code.
    /// </summary>
    private static ClusterApi.Cluster ApplyLoadBalancingPolicy(ClusterApi.Cluster cluster, ClusterApi.LoadBalancingPolicy extension, string path, TranslationErrors errors)
    {
        if (cluster.LbConfigCase != ClusterApi.Cluster.LbConfigOneofCase.None)
        {
            errors.Add(path, "cannot be combined with " + cluster.LbConfigCase + " (set the policy's options in its typed config)");
            return cluster;
        }

        for (var i = 0; i < extension.Policies.Count; i++)
        {
            var any = extension.Policies[i].TypedExtensionConfig?.TypedConfig;
            if (any is null)
            {
                continue;
            }

            var result = cluster.Clone();
            result.LoadBalancingPolicy = null;
            if (any.Is(LbApi.RoundRobin.V3.RoundRobin.Descriptor))
            {
                result.LbPolicy = ClusterApi.Cluster.Types.LbPolicy.RoundRobin;
            }
            else if (any.Is(LbApi.Random.V3.Random.Descriptor))
            {
                result.LbPolicy = ClusterApi.Cluster.Types.LbPolicy.Random;
            }
            else if (any.Is(LbApi.LeastRequest.V3.LeastRequest.Descriptor))
            {
                var leastRequest = any.Unpack<LbApi.LeastRequest.V3.LeastRequest>();
                result.LbPolicy = ClusterApi.Cluster.Types.LbPolicy.LeastRequest;
                if (leastRequest.ChoiceCount is { } choices)
                {
                    result.LeastRequestLbConfig = new ClusterApi.Cluster.Types.LeastRequestLbConfig { ChoiceCount = choices };
                }
            }
            else if (any.Is(LbApi.RingHash.V3.RingHash.Descriptor))
            {
                var ring = any.Unpack<LbApi.RingHash.V3.RingHash>();
                result.LbPolicy = ClusterApi.Cluster.Types.LbPolicy.RingHash;
                result.RingHashLbConfig = new ClusterApi.Cluster.Types.RingHashLbConfig
                {
                    MinimumRingSize = ring.MinimumRingSize,
                    MaximumRingSize = ring.MaximumRingSize,

                    // The extension's enum has DEFAULT_HASH (= XX_HASH) first; the legacy one starts at XX_HASH.
                    HashFunction = ring.HashFunction == LbApi.RingHash.V3.RingHash.Types.HashFunction.MurmurHash2
                        ? ClusterApi.Cluster.Types.RingHashLbConfig.Types.HashFunction.MurmurHash2
                        : ClusterApi.Cluster.Types.RingHashLbConfig.Types.HashFunction.XxHash,
                };
            }
            else if (any.Is(LbApi.Maglev.V3.Maglev.Descriptor))
            {
                var maglev = any.Unpack<LbApi.Maglev.V3.Maglev>();
                result.LbPolicy = ClusterApi.Cluster.Types.LbPolicy.Maglev;
                if (maglev.TableSize is { } tableSize)
                {
                    result.MaglevLbConfig = new ClusterApi.Cluster.Types.MaglevLbConfig { TableSize = tableSize };
                }
            }
            else
            {
                // Not one we support: Envoy moves on to the next entry.
                continue;
            }

            return result;
        }

        errors.Add(path + ".policies", "no policy SharpProxy supports (round_robin, least_request, random, ring_hash, maglev in envoy.extensions.load_balancing_policies.*.v3)");
        return cluster;
    }
}
