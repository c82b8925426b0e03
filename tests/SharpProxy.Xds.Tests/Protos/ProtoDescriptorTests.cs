using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using BootstrapV3 = SharpProxy.Xds.Api.Config.Bootstrap.V3;
using ClusterV3 = SharpProxy.Xds.Api.Config.Cluster.V3;
using CoreV3 = SharpProxy.Xds.Api.Config.Core.V3;
using DiscoveryV3 = SharpProxy.Xds.Api.Service.Discovery.V3;
using HcmV3 = SharpProxy.Xds.Api.Extensions.Filters.Network.HttpConnectionManager.V3;
using RouterV3 = SharpProxy.Xds.Api.Extensions.Filters.Http.Router.V3;
using RouteV3 = SharpProxy.Xds.Api.Config.Route.V3;
using TlsV3 = SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3;
using UpstreamHttpV3 = SharpProxy.Xds.Api.Extensions.Upstreams.Http.V3;

namespace SharpProxy.Xds.Tests.Protos;

/// <summary>
/// Pins field numbers of the honoured Envoy v3 subset against the numbers read in upstream
/// envoyproxy/envoy (api/envoy/...), and checks that Envoy-style JSON goes through the generated
/// descriptors.
/// </summary>
public sealed class ProtoDescriptorTests
{
    private static readonly TypeRegistry Registry = TypeRegistry.FromFiles(
        BootstrapV3.BootstrapReflection.Descriptor,
        RouteV3.RouteReflection.Descriptor,
        HcmV3.HttpConnectionManagerReflection.Descriptor,
        RouterV3.RouterReflection.Descriptor,
        SharpProxy.Xds.Api.Extensions.Filters.Http.Fault.V3.FaultReflection.Descriptor,
        UpstreamHttpV3.HttpProtocolOptionsReflection.Descriptor,
        DiscoveryV3.DiscoveryReflection.Descriptor,
        SharpProxy.Xds.Api.Extensions.Filters.Network.TcpProxy.V3.TcpProxyReflection.Descriptor,
        SharpProxy.Xds.Api.Extensions.Filters.Listener.OriginalDst.V3.OriginalDstReflection.Descriptor,
        SharpProxy.Xds.Api.Extensions.Filters.Http.Cors.V3.CorsReflection.Descriptor,
        ClusterV3.FilterReflection.Descriptor,
        SharpProxy.Xds.Api.Config.Trace.V3.OpentelemetryReflection.Descriptor,
        SharpProxy.Xds.Api.Extensions.AccessLoggers.File.V3.FileReflection.Descriptor,
        SharpProxy.Xds.Api.Extensions.AccessLoggers.Stream.V3.StreamReflection.Descriptor,
        SharpProxy.Xds.Api.Extensions.TransportSockets.Tls.V3.TlsReflection.Descriptor);

    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithTypeRegistry(Registry));

    // (message full name, field name, upstream number, upstream oneof or null)
    public static TheoryData<string, string, int, string?> UpstreamFieldNumbers => new()
    {
        { "envoy.config.route.v3.RouteMatch", "safe_regex", 10, "path_specifier" },
        { "envoy.config.route.v3.RouteMatch", "path_separated_prefix", 14, "path_specifier" },
        { "envoy.config.route.v3.RouteMatch", "grpc", 8, null },
        { "envoy.config.route.v3.RouteAction", "hash_policy", 15, null },
        { "envoy.config.route.v3.RouteAction", "cluster_not_found_response_code", 20, null },
        { "envoy.config.route.v3.RouteAction", "idle_timeout", 24, null },
        { "envoy.config.route.v3.RouteAction", "upgrade_configs", 25, null },
        { "envoy.config.route.v3.RouteAction", "host_rewrite_literal", 6, "host_rewrite_specifier" },
        { "envoy.config.route.v3.RouteAction.HashPolicy", "query_parameter", 5, "policy_specifier" },
        { "envoy.config.route.v3.Route", "name", 14, null },
        { "envoy.config.route.v3.Route", "direct_response", 7, "action" },
        { "envoy.config.route.v3.VirtualHost", "request_headers_to_remove", 13, null },
        { "envoy.config.route.v3.VirtualHost", "retry_policy", 16, null },
        { "envoy.config.route.v3.WeightedCluster", "use_hash_policy", 5, "random_value_specifier" },
        { "envoy.config.route.v3.WeightedCluster.ClusterWeight", "host_rewrite_literal", 11, "host_rewrite_specifier" },
        { "envoy.config.route.v3.HeaderMatcher", "string_match", 13, "header_match_specifier" },
        { "envoy.config.route.v3.HeaderMatcher", "treat_missing_header_as_empty", 14, null },
        { "envoy.config.route.v3.RetryPolicy", "retry_back_off", 8, null },
        { "envoy.config.route.v3.RetryPolicy", "retry_on", 1, null },
        { "envoy.config.route.v3.RetryPolicy", "num_retries", 2, null },
        { "envoy.config.route.v3.RetryPolicy", "per_try_timeout", 3, null },
        { "envoy.config.route.v3.RetryPolicy", "retry_host_predicate", 5, null },
        { "envoy.config.route.v3.RetryPolicy", "host_selection_retry_max_attempts", 6, null },
        { "envoy.config.route.v3.RetryPolicy", "retriable_status_codes", 7, null },
        { "envoy.config.route.v3.RouteAction", "retry_policy", 9, null },
        { "envoy.config.route.v3.Route", "typed_per_filter_config", 13, null },
        { "envoy.config.cluster.v3.Cluster", "load_balancing_policy", 41, null },
        { "envoy.config.cluster.v3.LoadBalancingPolicy", "policies", 1, null },
        { "envoy.config.cluster.v3.LoadBalancingPolicy.Policy", "typed_extension_config", 4, null },
        { "envoy.config.route.v3.VirtualHost", "typed_per_filter_config", 15, null },
        { "envoy.extensions.filters.http.fault.v3.HTTPFault", "delay", 1, null },
        { "envoy.extensions.filters.http.fault.v3.HTTPFault", "abort", 2, null },
        { "envoy.extensions.filters.http.fault.v3.FaultAbort", "http_status", 2, "error_type" },
        { "envoy.extensions.filters.http.fault.v3.FaultAbort", "grpc_status", 5, "error_type" },
        { "envoy.extensions.filters.http.fault.v3.FaultAbort", "percentage", 3, null },
        { "envoy.extensions.filters.common.fault.v3.FaultDelay", "fixed_delay", 3, "fault_delay_secifier" },
        { "envoy.extensions.filters.common.fault.v3.FaultDelay", "percentage", 4, null },
        { "envoy.config.route.v3.RedirectAction", "scheme_redirect", 7, "scheme_rewrite_specifier" },
        { "envoy.config.route.v3.RouteConfiguration", "validate_clusters", 7, null },
        { "envoy.config.cluster.v3.Cluster", "load_assignment", 33, null },
        { "envoy.config.cluster.v3.Cluster", "typed_extension_protocol_options", 36, null },
        { "envoy.config.cluster.v3.Cluster", "maglev_lb_config", 52, "lb_config" },
        { "envoy.config.cluster.v3.Cluster", "least_request_lb_config", 37, "lb_config" },
        { "envoy.config.cluster.v3.Cluster", "type", 2, "cluster_discovery_type" },
        { "envoy.config.cluster.v3.Cluster", "circuit_breakers", 10, null },
        { "envoy.config.cluster.v3.Cluster", "outlier_detection", 19, null },
        { "envoy.config.cluster.v3.Cluster", "common_lb_config", 27, null },
        { "envoy.config.cluster.v3.Cluster.CommonLbConfig", "healthy_panic_threshold", 1, null },
        { "envoy.config.cluster.v3.CircuitBreakers", "thresholds", 1, null },
        { "envoy.config.cluster.v3.CircuitBreakers.Thresholds", "priority", 1, null },
        { "envoy.config.cluster.v3.CircuitBreakers.Thresholds", "max_connections", 2, null },
        { "envoy.config.cluster.v3.CircuitBreakers.Thresholds", "max_pending_requests", 3, null },
        { "envoy.config.cluster.v3.CircuitBreakers.Thresholds", "max_requests", 4, null },
        { "envoy.config.cluster.v3.CircuitBreakers.Thresholds", "max_retries", 5, null },
        { "envoy.config.cluster.v3.OutlierDetection", "consecutive_5xx", 1, null },
        { "envoy.config.cluster.v3.OutlierDetection", "interval", 2, null },
        { "envoy.config.cluster.v3.OutlierDetection", "base_ejection_time", 3, null },
        { "envoy.config.cluster.v3.OutlierDetection", "max_ejection_percent", 4, null },
        { "envoy.config.cluster.v3.OutlierDetection", "enforcing_consecutive_5xx", 5, null },
        { "envoy.config.cluster.v3.OutlierDetection", "enforcing_success_rate", 6, null },
        { "envoy.config.cluster.v3.OutlierDetection", "success_rate_minimum_hosts", 7, null },
        { "envoy.config.cluster.v3.OutlierDetection", "success_rate_request_volume", 8, null },
        { "envoy.config.cluster.v3.OutlierDetection", "success_rate_stdev_factor", 9, null },
        { "envoy.config.cluster.v3.OutlierDetection", "consecutive_gateway_failure", 10, null },
        { "envoy.config.cluster.v3.OutlierDetection", "failure_percentage_threshold", 16, null },
        { "envoy.config.cluster.v3.OutlierDetection", "enforcing_failure_percentage", 17, null },
        { "envoy.config.cluster.v3.OutlierDetection", "failure_percentage_minimum_hosts", 19, null },
        { "envoy.config.cluster.v3.OutlierDetection", "failure_percentage_request_volume", 20, null },
        { "envoy.config.cluster.v3.OutlierDetection", "enforcing_consecutive_gateway_failure", 11, null },
        { "envoy.config.cluster.v3.OutlierDetection", "split_external_local_origin_errors", 12, null },
        { "envoy.config.cluster.v3.OutlierDetection", "consecutive_local_origin_failure", 13, null },
        { "envoy.config.cluster.v3.OutlierDetection", "max_ejection_time", 21, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "strip_any_host_port", 42, "strip_port_mode" },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "strip_matching_host_port", 39, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "common_http_protocol_options", 35, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "request_timeout", 28, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", "typed_config", 4, "config_type" },
        { "envoy.config.listener.v3.Listener", "stat_prefix", 28, null },
        { "envoy.config.listener.v3.Listener", "traffic_direction", 16, null },
        { "envoy.config.listener.v3.FilterChainMatch", "destination_port", 8, null },
        { "envoy.config.listener.v3.Listener", "use_original_dst", 4, null },
        { "envoy.config.listener.v3.Listener", "listener_filters", 9, null },
        { "envoy.config.listener.v3.Listener", "bind_to_port", 26, null },
        { "envoy.config.listener.v3.ListenerFilter", "name", 1, null },
        { "envoy.config.listener.v3.ListenerFilter", "typed_config", 3, "config_type" },
        { "envoy.config.cluster.v3.Cluster", "upstream_bind_config", 21, null },
        { "envoy.config.core.v3.BindConfig", "source_address", 1, null },
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix", 1, null },
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "cluster", 2, "cluster_specifier" },
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "weighted_clusters", 10, "cluster_specifier" },
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "idle_timeout", 8, null },
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "max_connect_attempts", 7, null },
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster", "clusters", 1, null },
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight", "name", 1, null },
        { "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight", "weight", 2, null },
        { "envoy.config.core.v3.HeaderValueOption", "append_action", 3, null },
        { "envoy.config.core.v3.ApiConfigSource", "transport_api_version", 8, null },
        { "envoy.config.core.v3.HttpProtocolOptions", "max_requests_per_connection", 6, null },
        { "envoy.config.bootstrap.v3.Bootstrap", "admin", 12, null },
        { "envoy.service.discovery.v3.DeltaDiscoveryResponse", "removed_resource_names", 8, null },
        { "envoy.config.listener.v3.Listener", "default_filter_chain", 25, null },
        { "envoy.config.listener.v3.Listener", "listener_filters_timeout", 15, null },
        { "envoy.config.listener.v3.Listener", "continue_on_listener_filters_timeout", 17, null },
        { "envoy.config.route.v3.RouteConfiguration", "ignore_port_in_host_matching", 14, null },
        { "envoy.config.route.v3.RouteAction", "max_stream_duration", 36, null },
        { "envoy.config.route.v3.RouteAction.MaxStreamDuration", "max_stream_duration", 1, null },
        { "envoy.config.route.v3.RouteAction.MaxStreamDuration", "grpc_timeout_header_max", 2, null },
        { "envoy.config.route.v3.RouteAction.MaxStreamDuration", "grpc_timeout_header_offset", 3, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "normalize_path", 30, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "path_with_escaped_slashes_action", 45, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "forward_client_cert_details", 16, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "set_current_client_cert_details", 17, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.SetCurrentClientCertDetails", "subject", 1, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.SetCurrentClientCertDetails", "cert", 3, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.SetCurrentClientCertDetails", "dns", 4, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.SetCurrentClientCertDetails", "uri", 5, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.SetCurrentClientCertDetails", "chain", 6, null },
        { "envoy.config.cluster.v3.Cluster", "filters", 40, null },
        { "envoy.config.cluster.v3.Filter", "name", 1, null },
        { "envoy.config.cluster.v3.Filter", "typed_config", 2, "config_type" },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "allow_origin_string_match", 1, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "allow_methods", 2, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "allow_headers", 3, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "expose_headers", 4, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "max_age", 5, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "allow_credentials", 6, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "filter_enabled", 7, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "shadow_enabled", 8, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "allow_private_network_access", 9, null },
        { "envoy.extensions.filters.http.cors.v3.CorsPolicy", "forward_not_matching_preflights", 10, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "tracing", 7, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", "client_sampling", 3, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", "random_sampling", 4, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", "overall_sampling", 5, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", "max_path_tag_length", 7, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", "custom_tags", 8, null },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing", "provider", 9, null },
        { "envoy.type.tracing.v3.CustomTag", "tag", 1, null },
        { "envoy.type.tracing.v3.CustomTag", "literal", 2, "type" },
        { "envoy.type.tracing.v3.CustomTag", "environment", 3, "type" },
        { "envoy.type.tracing.v3.CustomTag", "request_header", 4, "type" },
        { "envoy.type.tracing.v3.CustomTag", "response_header", 6, "type" },
        { "envoy.type.tracing.v3.CustomTag.Header", "default_value", 2, null },
        { "envoy.type.tracing.v3.CustomTag.Environment", "default_value", 2, null },
        { "envoy.config.route.v3.Route", "tracing", 15, null },
        { "envoy.config.route.v3.Tracing", "client_sampling", 1, null },
        { "envoy.config.route.v3.Tracing", "random_sampling", 2, null },
        { "envoy.config.route.v3.Tracing", "overall_sampling", 3, null },
        { "envoy.config.bootstrap.v3.Bootstrap", "tracing", 9, null },
        { "envoy.config.trace.v3.Tracing", "http", 1, null },
        { "envoy.config.trace.v3.Tracing.Http", "name", 1, null },
        { "envoy.config.trace.v3.Tracing.Http", "typed_config", 3, "config_type" },
        { "envoy.config.trace.v3.OpenTelemetryConfig", "grpc_service", 1, null },
        { "envoy.config.trace.v3.OpenTelemetryConfig", "service_name", 2, null },
        { "envoy.config.trace.v3.OpenTelemetryConfig", "http_service", 3, null },
        { "envoy.config.core.v3.HttpService", "http_uri", 1, null },
        { "envoy.config.core.v3.HttpService", "request_headers_to_add", 2, null },
        { "envoy.config.core.v3.HttpUri", "uri", 1, null },
        { "envoy.config.core.v3.HttpUri", "cluster", 2, "http_upstream_type" },
        { "envoy.config.core.v3.HttpUri", "timeout", 3, null },
        { "envoy.config.core.v3.SubstitutionFormatString", "text_format", 1, "format" },
        { "envoy.config.core.v3.SubstitutionFormatString", "json_format", 2, "format" },
        { "envoy.config.core.v3.SubstitutionFormatString", "text_format_source", 5, "format" },
        { "envoy.config.core.v3.SubstitutionFormatString", "omit_empty_values", 3, null },
        { "envoy.extensions.access_loggers.file.v3.FileAccessLog", "log_format", 5, "access_log_format" },
        { "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", "log_format", 1, "access_log_format" },
        { "envoy.extensions.access_loggers.stream.v3.StderrAccessLog", "log_format", 1, "access_log_format" },
        { "envoy.config.core.v3.TransportSocket", "name", 1, null },
        { "envoy.config.core.v3.TransportSocket", "typed_config", 3, "config_type" },
        { "envoy.config.listener.v3.FilterChain", "transport_socket", 6, null },
        { "envoy.config.listener.v3.FilterChainMatch", "server_names", 11, null },
        { "envoy.config.listener.v3.FilterChainMatch", "transport_protocol", 9, null },
        { "envoy.config.cluster.v3.Cluster", "transport_socket", 24, null },
        { "envoy.config.cluster.v3.Cluster", "transport_socket_matches", 43, null },
        { "envoy.config.cluster.v3.Cluster.TransportSocketMatch", "name", 1, null },
        { "envoy.config.cluster.v3.Cluster.TransportSocketMatch", "match", 2, null },
        { "envoy.config.cluster.v3.Cluster.TransportSocketMatch", "transport_socket", 3, null },
        { "envoy.config.bootstrap.v3.Bootstrap.StaticResources", "secrets", 3, null },
        { "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", "common_tls_context", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", "sni", 2, null },
        { "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", "common_tls_context", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", "require_client_certificate", 2, null },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", "tls_params", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", "tls_certificates", 2, null },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", "tls_certificate_sds_secret_configs", 6, null },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", "validation_context", 3, "validation_context_type" },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", "validation_context_sds_secret_config", 7, "validation_context_type" },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", "combined_validation_context", 8, "validation_context_type" },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", "alpn_protocols", 4, null },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CombinedCertificateValidationContext", "default_validation_context", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CombinedCertificateValidationContext", "validation_context_sds_secret_config", 2, null },
        { "envoy.extensions.transport_sockets.tls.v3.TlsParameters", "tls_minimum_protocol_version", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.TlsParameters", "tls_maximum_protocol_version", 2, null },
        { "envoy.extensions.transport_sockets.tls.v3.TlsParameters", "cipher_suites", 3, null },
        { "envoy.extensions.transport_sockets.tls.v3.TlsCertificate", "certificate_chain", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.TlsCertificate", "private_key", 2, null },
        { "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext", "trusted_ca", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext", "match_typed_subject_alt_names", 15, null },
        { "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext", "match_subject_alt_names", 9, null },
        { "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher", "san_type", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher", "matcher", 2, null },
        { "envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig", "name", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig", "sds_config", 2, null },
        { "envoy.extensions.transport_sockets.tls.v3.Secret", "name", 1, null },
        { "envoy.extensions.transport_sockets.tls.v3.Secret", "tls_certificate", 2, "type" },
        { "envoy.extensions.transport_sockets.tls.v3.Secret", "validation_context", 4, "type" },
    };

    [Theory]
    [MemberData(nameof(UpstreamFieldNumbers))]
    public void FieldNumber_HonouredField_MatchesUpstream(string message, string field, int number, string? oneof)
    {
        var descriptor = Registry.Find(message);
        Assert.NotNull(descriptor);
        var fieldDescriptor = descriptor.FindFieldByName(field);
        Assert.NotNull(fieldDescriptor);
        Assert.Equal(number, fieldDescriptor.FieldNumber);
        Assert.Equal(oneof, fieldDescriptor.RealContainingOneof?.Name);
    }

    [Fact]
    public void EnumValues_LbPolicyAndApiType_MatchUpstream()
    {
        Assert.Equal(5, (int)ClusterV3.Cluster.Types.LbPolicy.Maglev);
        Assert.Equal(7, (int)ClusterV3.Cluster.Types.LbPolicy.LoadBalancingPolicyConfig);
        var lbPolicy = ClusterV3.Cluster.Descriptor.EnumTypes.Single(e => e.Name == "LbPolicy");
        Assert.Null(lbPolicy.FindValueByNumber(4)); // reserved upstream (was ORIGINAL_DST_LB)
        Assert.Equal(5, (int)CoreV3.ApiConfigSource.Types.ApiType.AggregatedGrpc);
        Assert.Equal(3, (int)CoreV3.HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExists);
        Assert.Equal(5, (int)CoreV3.HealthStatus.Degraded);
        Assert.Equal(4, (int)ClusterV3.Cluster.Types.DiscoveryType.OriginalDst);
        Assert.Equal(6, (int)ClusterV3.Cluster.Types.LbPolicy.ClusterProvided);
        Assert.Equal(1, (int)HcmV3.HttpConnectionManager.Types.PathWithEscapedSlashesAction.KeepUnchanged);
        Assert.Equal(4, (int)HcmV3.HttpConnectionManager.Types.PathWithEscapedSlashesAction.UnescapeAndForward);
        Assert.Equal(2, (int)HcmV3.HttpConnectionManager.Types.ForwardClientCertDetails.AppendForward);
        Assert.Equal(4, (int)HcmV3.HttpConnectionManager.Types.ForwardClientCertDetails.AlwaysForwardOnly);
        Assert.Equal(3, (int)TlsV3.TlsParameters.Types.TlsProtocol.Tlsv12);
        Assert.Equal(4, (int)TlsV3.TlsParameters.Types.TlsProtocol.Tlsv13);
        Assert.Equal(2, (int)TlsV3.SubjectAltNameMatcher.Types.SanType.Dns);
        Assert.Equal(3, (int)TlsV3.SubjectAltNameMatcher.Types.SanType.Uri);
        Assert.Equal(4, (int)TlsV3.SubjectAltNameMatcher.Types.SanType.IpAddress);
    }

    [Fact]
    public void Descriptor_FieldNotHonoured_IsAbsent()
    {
        // Upstream fields that SharpProxy does not honour must not be in the descriptors, so that
        // configuration using them is reported as unsupported.
        Assert.Null(Registry.Find("envoy.config.cluster.v3.Cluster")!.FindFieldByName("alt_stat_name"));
        Assert.Null(Registry.Find("envoy.config.route.v3.RouteAction")!.FindFieldByName("regex_rewrite"));
        Assert.Null(Registry.Find("envoy.config.core.v3.GrpcService")!.FindFieldByName("google_grpc"));
        Assert.Null(Registry.Find("envoy.config.cluster.v3.Cluster")!.FindFieldByName("original_dst_lb_config"));
        Assert.Null(Registry.Find("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")!.FindFieldByName("tunneling_config"));
        Assert.Null(Registry.Find("envoy.config.core.v3.BindConfig")!.FindFieldByName("extra_source_addresses"));
        Assert.Null(Registry.Find("envoy.extensions.transport_sockets.tls.v3.TlsParameters")!.FindFieldByName("ecdh_curves"));
        Assert.Null(Registry.Find("envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext")!.FindFieldByName("crl"));
    }

    [Fact]
    public void JsonParser_ClusterAsAny_ParsesEveryHonouredShape()
    {
        const string json = """
            {
              "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
              "name": "reviews",
              "type": "STRICT_DNS",
              "connect_timeout": "0.25s",
              "lb_policy": "RING_HASH",
              "ring_hash_lb_config": { "minimum_ring_size": 1024, "hash_function": "MURMUR_HASH_2" },
              "common_lb_config": { "healthy_panic_threshold": { "value": 25 } },
              "circuit_breakers": { "thresholds": [ { "priority": "HIGH", "max_connections": 100 } ] },
              "outlier_detection": { "consecutive_5xx": 3, "base_ejection_time": "30s" },
              "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                  "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                  "explicit_http_config": { "http2_protocol_options": { "max_concurrent_streams": 64 } }
                }
              },
              "load_assignment": {
                "cluster_name": "reviews",
                "endpoints": [ {
                  "locality": { "zone": "a" },
                  "lb_endpoints": [ {
                    "endpoint": { "address": { "socket_address": { "address": "reviews.local", "port_value": 9080 } } },
                    "health_status": "HEALTHY",
                    "load_balancing_weight": 2
                  } ]
                } ]
              },
              "metadata": { "filter_metadata": { "istio": { "version": "v2" } } }
            }
            """;

        var cluster = Parser.Parse<Any>(json).Unpack<ClusterV3.Cluster>();

        Assert.Equal("reviews", cluster.Name);
        Assert.Equal(ClusterV3.Cluster.Types.DiscoveryType.StrictDns, cluster.Type);
        Assert.Equal(ClusterV3.Cluster.ClusterDiscoveryTypeOneofCase.Type, cluster.ClusterDiscoveryTypeCase);
        Assert.Equal(TimeSpan.FromMilliseconds(250), cluster.ConnectTimeout.ToTimeSpan());
        Assert.Equal(ClusterV3.Cluster.LbConfigOneofCase.RingHashLbConfig, cluster.LbConfigCase);
        Assert.Equal(1024UL, cluster.RingHashLbConfig.MinimumRingSize);
        Assert.Equal(25, cluster.CommonLbConfig.HealthyPanicThreshold.Value);
        Assert.Equal(100U, cluster.CircuitBreakers.Thresholds[0].MaxConnections);
        Assert.Equal(3U, cluster.OutlierDetection.Consecutive5Xx);

        var options = cluster.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
            .Unpack<UpstreamHttpV3.HttpProtocolOptions>();
        Assert.Equal(64U, options.ExplicitHttpConfig.Http2ProtocolOptions.MaxConcurrentStreams);

        var lbEndpoint = cluster.LoadAssignment.Endpoints[0].LbEndpoints[0];
        Assert.Equal(9080U, lbEndpoint.Endpoint.Address.SocketAddress.PortValue);
        Assert.Equal(CoreV3.HealthStatus.Healthy, lbEndpoint.HealthStatus);
        Assert.Equal(2U, lbEndpoint.LoadBalancingWeight);
        Assert.Equal("v2", cluster.Metadata.FilterMetadata["istio"].Fields["version"].StringValue);
    }

    [Fact]
    public void JsonParser_HttpConnectionManagerWithInlineRoutes_Parses()
    {
        const string json = """
            {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              "stat_prefix": "ingress_http",
              "codec_type": "AUTO",
              "strip_any_host_port": true,
              "route_config": {
                "name": "local",
                "virtual_hosts": [ {
                  "name": "all",
                  "domains": [ "*" ],
                  "routes": [ {
                    "match": { "safe_regex": { "google_re2": {}, "regex": "^/api/.*" },
                               "headers": [ { "name": "x-canary", "string_match": { "exact": "1" } } ] },
                    "route": {
                      "weighted_clusters": { "clusters": [ { "name": "v1", "weight": 90 }, { "name": "v2", "weight": 10 } ],
                                             "use_hash_policy": true },
                      "hash_policy": [ { "header": { "header_name": "x-user" }, "terminal": true } ],
                      "timeout": "15s"
                    }
                  } ]
                } ]
              },
              "http_filters": [ {
                "name": "envoy.filters.http.router",
                "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
              } ]
            }
            """;

        var hcm = Parser.Parse<Any>(json).Unpack<HcmV3.HttpConnectionManager>();

        Assert.True(hcm.StripAnyHostPort);
        Assert.Equal(HcmV3.HttpConnectionManager.StripPortModeOneofCase.StripAnyHostPort, hcm.StripPortModeCase);
        var route = hcm.RouteConfig.VirtualHosts[0].Routes[0];
        Assert.Equal("^/api/.*", route.Match.SafeRegex.Regex);
        Assert.Equal("1", route.Match.Headers[0].StringMatch.Exact);
        Assert.True(route.Route_.WeightedClusters.UseHashPolicy);
        Assert.Equal(10U, route.Route_.WeightedClusters.Clusters[1].Weight);
        Assert.Equal("x-user", route.Route_.HashPolicy[0].Header.HeaderName);
        Assert.True(hcm.HttpFilters[0].TypedConfig.Is(RouterV3.Router.Descriptor));
    }

    [Fact]
    public void JsonParser_FieldOutsideSubset_IsRejected()
    {
        // alt_stat_name exists upstream (Cluster field 28) but is not honoured.
        const string json = """{ "name": "c", "alt_stat_name": "x" }""";

        Assert.Throws<InvalidProtocolBufferException>(() => Parser.Parse<ClusterV3.Cluster>(json));
    }
}
