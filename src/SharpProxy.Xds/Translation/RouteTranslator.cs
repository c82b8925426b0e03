using System.Collections.Immutable;
using SharpProxy.Core.Configuration;
using PreviousHostsApi = SharpProxy.Xds.Api.Extensions.Retry.Host.PreviousHosts.V3;
using RouteApi = SharpProxy.Xds.Api.Config.Route.V3;

namespace SharpProxy.Xds.Translation;

/// <summary>Envoy RouteConfiguration -> <see cref="RouteTableConfig"/>, with every error named by path.</summary>
internal static class RouteTranslator
{
    public static RouteTableConfig Translate(RouteApi.RouteConfiguration config, string path, TranslationErrors errors)
    {
        var virtualHosts = ImmutableArray.CreateBuilder<VirtualHostConfig>(config.VirtualHosts.Count);
        for (var i = 0; i < config.VirtualHosts.Count; i++)
        {
            virtualHosts.Add(TranslateVirtualHost(config.VirtualHosts[i], path + ".virtual_hosts[" + i + "]", errors));
        }

        if (config.ValidateClusters is not null)
        {
            // Accepted: clusters are always validated at request time (503 NC), which is Envoy's behaviour with validate_clusters false.
        }

        return new RouteTableConfig
        {
            Name = config.Name,
            VirtualHosts = virtualHosts.MoveToImmutable(),
            MostSpecificHeaderMutationsWins = config.MostSpecificHeaderMutationsWins,
            IgnorePortInHostMatching = config.IgnorePortInHostMatching,
            Headers = new HeaderMutationConfig
            {
                RequestHeadersToAdd = ProtoConvert.Headers(config.RequestHeadersToAdd, path + ".request_headers_to_add", errors),
                RequestHeadersToRemove = ProtoConvert.HeaderNames(config.RequestHeadersToRemove, path + ".request_headers_to_remove", errors),
                ResponseHeadersToAdd = ProtoConvert.Headers(config.ResponseHeadersToAdd, path + ".response_headers_to_add", errors),
                ResponseHeadersToRemove = ProtoConvert.HeaderNames(config.ResponseHeadersToRemove, path + ".response_headers_to_remove", errors),
            },
        };
    }

    private static VirtualHostConfig TranslateVirtualHost(RouteApi.VirtualHost vhost, string path, TranslationErrors errors)
    {
        if (string.IsNullOrEmpty(vhost.Name))
        {
            errors.Add(path + ".name", "a virtual host name is required");
        }

        if (vhost.Domains.Count == 0)
        {
            errors.Add(path + ".domains", "at least one domain is required");
        }

        var retryPolicy = vhost.RetryPolicy is null ? null : TranslateRetryPolicy(vhost.RetryPolicy, path + ".retry_policy", errors);

        var routes = ImmutableArray.CreateBuilder<RouteConfig>(vhost.Routes.Count);
        for (var i = 0; i < vhost.Routes.Count; i++)
        {
            if (TranslateRoute(vhost.Routes[i], path + ".routes[" + i + "]", errors) is { } route)
            {
                routes.Add(route);
            }
        }

        return new VirtualHostConfig
        {
            Name = vhost.Name,
            Domains = [.. vhost.Domains],
            Routes = routes.ToImmutable(),
            RetryPolicy = retryPolicy,
            Fault = FaultTranslator.FromPerFilterConfig(vhost.TypedPerFilterConfig, path, errors),
            Cors = CorsTranslator.FromPerFilterConfig(vhost.TypedPerFilterConfig, path, errors),
            Headers = new HeaderMutationConfig
            {
                RequestHeadersToAdd = ProtoConvert.Headers(vhost.RequestHeadersToAdd, path + ".request_headers_to_add", errors),
                RequestHeadersToRemove = ProtoConvert.HeaderNames(vhost.RequestHeadersToRemove, path + ".request_headers_to_remove", errors),
                ResponseHeadersToAdd = ProtoConvert.Headers(vhost.ResponseHeadersToAdd, path + ".response_headers_to_add", errors),
                ResponseHeadersToRemove = ProtoConvert.HeaderNames(vhost.ResponseHeadersToRemove, path + ".response_headers_to_remove", errors),
            },
        };
    }

    private static RouteConfig? TranslateRoute(RouteApi.Route route, string path, TranslationErrors errors)
    {
        var match = TranslateMatch(route.Match, path + ".match", errors);
        RouteActionConfig? forward = null;
        RedirectConfig? redirect = null;
        DirectResponseConfig? direct = null;
        switch (route.ActionCase)
        {
            case RouteApi.Route.ActionOneofCase.Route_:
                forward = TranslateAction(route.Route_, path + ".route", errors);
                break;
            case RouteApi.Route.ActionOneofCase.Redirect:
                redirect = TranslateRedirect(route.Redirect, path + ".redirect", errors);
                break;
            case RouteApi.Route.ActionOneofCase.DirectResponse:
                direct = TranslateDirectResponse(route.DirectResponse, path + ".direct_response", errors);
                break;
            default:
                errors.Add(path, "one of route, redirect, direct_response is required");
                return null;
        }

        if (match is null)
        {
            return null;
        }

        return new RouteConfig
        {
            Name = route.Name,
            Match = match,
            Forward = forward,
            Redirect = redirect,
            DirectResponse = direct,
            Fault = FaultTranslator.FromPerFilterConfig(route.TypedPerFilterConfig, path, errors),
            Cors = CorsTranslator.FromPerFilterConfig(route.TypedPerFilterConfig, path, errors),
            Tracing = TracingTranslator.Route(route.Tracing),
            Headers = new HeaderMutationConfig
            {
                RequestHeadersToAdd = ProtoConvert.Headers(route.RequestHeadersToAdd, path + ".request_headers_to_add", errors),
                RequestHeadersToRemove = ProtoConvert.HeaderNames(route.RequestHeadersToRemove, path + ".request_headers_to_remove", errors),
                ResponseHeadersToAdd = ProtoConvert.Headers(route.ResponseHeadersToAdd, path + ".response_headers_to_add", errors),
                ResponseHeadersToRemove = ProtoConvert.HeaderNames(route.ResponseHeadersToRemove, path + ".response_headers_to_remove", errors),
            },
        };
    }

    private static RouteMatchConfig? TranslateMatch(RouteApi.RouteMatch? match, string path, TranslationErrors errors)
    {
        if (match is null)
        {
            errors.Add(path, "a route match is required");
            return null;
        }

        PathMatchKind kind;
        string value;
        switch (match.PathSpecifierCase)
        {
            case RouteApi.RouteMatch.PathSpecifierOneofCase.Prefix:
                kind = PathMatchKind.Prefix;
                value = match.Prefix;
                break;
            case RouteApi.RouteMatch.PathSpecifierOneofCase.Path:
                kind = PathMatchKind.Path;
                value = match.Path;
                break;
            case RouteApi.RouteMatch.PathSpecifierOneofCase.SafeRegex:
                kind = PathMatchKind.SafeRegex;
                value = ProtoConvert.Regex(match.SafeRegex, path + ".safe_regex", errors) ?? "";
                break;
            case RouteApi.RouteMatch.PathSpecifierOneofCase.PathSeparatedPrefix:
                kind = PathMatchKind.PathSeparatedPrefix;
                value = match.PathSeparatedPrefix;
                if (value.Length == 0 || value[0] != '/' || (value.Length > 1 && value[^1] == '/') || value.IndexOfAny(['?', '#']) >= 0)
                {
                    errors.Add(path + ".path_separated_prefix", $"'{value}' must start with '/', not end with '/', and have no '?' or '#'");
                }

                break;
            default:
                errors.Add(path, "one of prefix, path, safe_regex, path_separated_prefix is required");
                return null;
        }

        var headers = ImmutableArray.CreateBuilder<HeaderMatcherConfig>(match.Headers.Count);
        for (var i = 0; i < match.Headers.Count; i++)
        {
            if (TranslateHeaderMatcher(match.Headers[i], path + ".headers[" + i + "]", errors) is { } header)
            {
                headers.Add(header);
            }
        }

        var queries = ImmutableArray.CreateBuilder<QueryParameterMatcherConfig>(match.QueryParameters.Count);
        for (var i = 0; i < match.QueryParameters.Count; i++)
        {
            var query = match.QueryParameters[i];
            var queryPath = path + ".query_parameters[" + i + "]";
            if (string.IsNullOrEmpty(query.Name))
            {
                errors.Add(queryPath + ".name", "a query parameter name is required");
                continue;
            }

            switch (query.QueryParameterMatchSpecifierCase)
            {
                case RouteApi.QueryParameterMatcher.QueryParameterMatchSpecifierOneofCase.StringMatch:
                    queries.Add(new QueryParameterMatcherConfig { Name = query.Name, StringMatch = ProtoConvert.StringMatcher(query.StringMatch, queryPath + ".string_match", errors) });
                    break;
                case RouteApi.QueryParameterMatcher.QueryParameterMatchSpecifierOneofCase.PresentMatch when !query.PresentMatch:
                    errors.Add(queryPath + ".present_match", "present_match: false is not meaningful (Envoy requires true)");
                    break;
                default:
                    queries.Add(new QueryParameterMatcherConfig { Name = query.Name });
                    break;
            }
        }

        return new RouteMatchConfig
        {
            Kind = kind,
            Value = value,
            CaseSensitive = match.CaseSensitive ?? true,
            Headers = headers.ToImmutable(),
            QueryParameters = queries.ToImmutable(),
            GrpcOnly = match.Grpc is not null,
        };
    }

    private static HeaderMatcherConfig? TranslateHeaderMatcher(RouteApi.HeaderMatcher header, string path, TranslationErrors errors)
    {
        if (string.IsNullOrEmpty(header.Name))
        {
            errors.Add(path + ".name", "a header name is required");
            return null;
        }

        var result = new HeaderMatcherConfig
        {
            Name = header.Name.ToLowerInvariant(),
            InvertMatch = header.InvertMatch,
            TreatMissingHeaderAsEmpty = header.TreatMissingHeaderAsEmpty,
        };
        switch (header.HeaderMatchSpecifierCase)
        {
            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.None:
                return result;
            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.ExactMatch:
                // Envoy reads the legacy exact_match "" as "any value", i.e. a presence check.
                return header.ExactMatch.Length == 0 ? result : result with { StringMatch = new StringMatcherConfig(StringMatchKind.Exact, header.ExactMatch) };
            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.PrefixMatch:
                return result with { StringMatch = new StringMatcherConfig(StringMatchKind.Prefix, header.PrefixMatch) };
            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.SuffixMatch:
                return result with { StringMatch = new StringMatcherConfig(StringMatchKind.Suffix, header.SuffixMatch) };
            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.ContainsMatch:
                return result with { StringMatch = new StringMatcherConfig(StringMatchKind.Contains, header.ContainsMatch) };
            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.SafeRegexMatch:
                {
                    var regex = ProtoConvert.Regex(header.SafeRegexMatch, path + ".safe_regex_match", errors);
                    return regex is null ? null : result with { StringMatch = new StringMatcherConfig(StringMatchKind.SafeRegex, regex) };
                }

            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.PresentMatch:
                return result with { PresentMatch = header.PresentMatch };
            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.RangeMatch:
                if (header.RangeMatch.Start >= header.RangeMatch.End)
                {
                    errors.Add(path + ".range_match", "start must be below end");
                    return null;
                }

                return result with { Range = new Int64RangeConfig(header.RangeMatch.Start, header.RangeMatch.End) };
            case RouteApi.HeaderMatcher.HeaderMatchSpecifierOneofCase.StringMatch:
                {
                    var matcher = ProtoConvert.StringMatcher(header.StringMatch, path + ".string_match", errors);
                    return matcher is null ? null : result with { StringMatch = matcher };
                }

            default:
                errors.Add(path, "unsupported header match specifier " + header.HeaderMatchSpecifierCase);
                return null;
        }
    }

    private static RouteActionConfig? TranslateAction(RouteApi.RouteAction action, string path, TranslationErrors errors)
    {
        var hashPolicies = TranslateHashPolicies(action, path, errors);

        var retryPolicy = action.RetryPolicy is null ? null : TranslateRetryPolicy(action.RetryPolicy, path + ".retry_policy", errors);

        if (action.IdleTimeout is not null)
        {
            errors.NotYetSupported(path + ".idle_timeout", "a route idle_timeout");
        }

        if (action.MaxStreamDuration is { } maxStream
            && (IsNonZero(maxStream.MaxStreamDuration_) || IsNonZero(maxStream.GrpcTimeoutHeaderMax) || IsNonZero(maxStream.GrpcTimeoutHeaderOffset)))
        {
            // Istio's inbound routes send all zeros (no limit, grpc-timeout not used), which is SharpProxy's behaviour.
            errors.NotYetSupported(path + ".max_stream_duration", "a non-zero max_stream_duration");
        }

        bool? webSocket = null;
        for (var i = 0; i < action.UpgradeConfigs.Count; i++)
        {
            var upgrade = action.UpgradeConfigs[i];
            if (!string.Equals(upgrade.UpgradeType, "websocket", StringComparison.OrdinalIgnoreCase))
            {
                errors.NotYetSupported(path + ".upgrade_configs[" + i + "].upgrade_type", $"upgrade type '{upgrade.UpgradeType}'");
                continue;
            }

            webSocket = upgrade.Enabled ?? true;
        }

        var result = new RouteActionConfig
        {
            Timeout = action.Timeout is null ? TimeSpan.FromSeconds(15) : action.Timeout.ToTimeSpan(),
            PrefixRewrite = action.PrefixRewrite.Length > 0 ? action.PrefixRewrite : null,
            HostRewriteLiteral = action.HasHostRewriteLiteral && action.HostRewriteLiteral.Length > 0 ? action.HostRewriteLiteral : null,
            WebSocketUpgrade = webSocket,
            HashPolicies = hashPolicies,
            RetryPolicy = retryPolicy,
            ClusterNotFoundResponseCode = action.ClusterNotFoundResponseCode switch
            {
                RouteApi.RouteAction.Types.ClusterNotFoundResponseCode.NotFound => 404,
                RouteApi.RouteAction.Types.ClusterNotFoundResponseCode.InternalServerError => 500,
                _ => 503,
            },
        };
        if (result.Timeout < TimeSpan.Zero)
        {
            errors.Add(path + ".timeout", "must not be negative");
        }

        switch (action.ClusterSpecifierCase)
        {
            case RouteApi.RouteAction.ClusterSpecifierOneofCase.Cluster:
                if (action.Cluster.Length == 0)
                {
                    errors.Add(path + ".cluster", "a cluster name is required");
                }

                return result with { Cluster = action.Cluster };
            case RouteApi.RouteAction.ClusterSpecifierOneofCase.WeightedClusters:
                {
                    var weighted = TranslateWeighted(action.WeightedClusters, path + ".weighted_clusters", errors);
                    if (weighted is { UseHashPolicy: true } && hashPolicies.IsDefaultOrEmpty)
                    {
                        // Envoy would silently fall back to a random pick; a sticky canary without a key is a config mistake.
                        errors.Add(path + ".weighted_clusters.use_hash_policy", "needs the route's hash_policy to produce the hash that picks the cluster");
                    }

                    return weighted is null ? null : result with { WeightedClusters = weighted };
                }

            default:
                errors.Add(path, "one of cluster, weighted_clusters is required");
                return null;
        }
    }

    private static ImmutableArray<HashPolicyConfig> TranslateHashPolicies(RouteApi.RouteAction action, string path, TranslationErrors errors)
    {
        if (action.HashPolicy.Count == 0)
        {
            return [];
        }

        var policies = ImmutableArray.CreateBuilder<HashPolicyConfig>(action.HashPolicy.Count);
        for (var i = 0; i < action.HashPolicy.Count; i++)
        {
            var policy = action.HashPolicy[i];
            var policyPath = path + ".hash_policy[" + i + "]";
            switch (policy.PolicySpecifierCase)
            {
                case RouteApi.RouteAction.Types.HashPolicy.PolicySpecifierOneofCase.Header:
                    if (policy.Header.HeaderName.Length == 0)
                    {
                        errors.Add(policyPath + ".header.header_name", "a header name is required");
                        break;
                    }

                    policies.Add(new HashPolicyConfig { Kind = HashPolicyKind.Header, Name = policy.Header.HeaderName.ToLowerInvariant(), Terminal = policy.Terminal });
                    break;
                case RouteApi.RouteAction.Types.HashPolicy.PolicySpecifierOneofCase.Cookie:
                    {
                        var cookie = policy.Cookie;
                        if (cookie.Name.Length == 0)
                        {
                            errors.Add(policyPath + ".cookie.name", "a cookie name is required");
                            break;
                        }

                        TimeSpan? ttl = cookie.Ttl?.ToTimeSpan();
                        if (ttl < TimeSpan.Zero)
                        {
                            errors.Add(policyPath + ".cookie.ttl", "must not be negative");
                        }

                        var attributes = ImmutableArray.CreateBuilder<KeyValuePair<string, string>>(cookie.Attributes.Count);
                        for (var a = 0; a < cookie.Attributes.Count; a++)
                        {
                            if (cookie.Attributes[a].Name.Length == 0)
                            {
                                errors.Add(policyPath + ".cookie.attributes[" + a + "].name", "an attribute name is required");
                            }

                            attributes.Add(new(cookie.Attributes[a].Name, cookie.Attributes[a].Value));
                        }

                        policies.Add(new HashPolicyConfig
                        {
                            Kind = HashPolicyKind.Cookie,
                            Name = cookie.Name,
                            Terminal = policy.Terminal,
                            CookieTtl = ttl,
                            CookiePath = cookie.Path.Length > 0 ? cookie.Path : null,
                            CookieAttributes = attributes.ToImmutable(),
                        });
                        break;
                    }

                case RouteApi.RouteAction.Types.HashPolicy.PolicySpecifierOneofCase.ConnectionProperties:
                    // Envoy creates no hash method at all when source_ip is false.
                    if (policy.ConnectionProperties.SourceIp)
                    {
                        policies.Add(new HashPolicyConfig { Kind = HashPolicyKind.SourceIp, Terminal = policy.Terminal });
                    }

                    break;
                case RouteApi.RouteAction.Types.HashPolicy.PolicySpecifierOneofCase.QueryParameter:
                    if (policy.QueryParameter.Name.Length == 0)
                    {
                        errors.Add(policyPath + ".query_parameter.name", "a query parameter name is required");
                        break;
                    }

                    policies.Add(new HashPolicyConfig { Kind = HashPolicyKind.QueryParameter, Name = policy.QueryParameter.Name, Terminal = policy.Terminal });
                    break;
                default:
                    errors.Add(policyPath, "one of header, cookie, connection_properties, query_parameter is required");
                    break;
            }
        }

        return policies.ToImmutable();
    }

    private static WeightedClustersConfig? TranslateWeighted(RouteApi.WeightedCluster weighted, string path, TranslationErrors errors)
    {
        if (weighted.HeaderName.Length > 0)
        {
            errors.NotYetSupported(path + ".header_name", "header_name");
        }

        if (weighted.Clusters.Count == 0)
        {
            errors.Add(path + ".clusters", "at least one cluster is required");
            return null;
        }

        var clusters = ImmutableArray.CreateBuilder<WeightedClusterConfig>(weighted.Clusters.Count);
        ulong sum = 0;
        for (var i = 0; i < weighted.Clusters.Count; i++)
        {
            var entry = weighted.Clusters[i];
            var entryPath = path + ".clusters[" + i + "]";
            if (entry.Name.Length == 0)
            {
                errors.Add(entryPath + ".name", "a cluster name is required");
                continue;
            }

            var weight = entry.Weight ?? 0u;
            sum += weight;
            clusters.Add(new WeightedClusterConfig
            {
                Name = entry.Name,
                Weight = weight,
                HostRewriteLiteral = entry.HasHostRewriteLiteral && entry.HostRewriteLiteral.Length > 0 ? entry.HostRewriteLiteral : null,
                Headers = new HeaderMutationConfig
                {
                    RequestHeadersToAdd = ProtoConvert.Headers(entry.RequestHeadersToAdd, entryPath + ".request_headers_to_add", errors),
                    RequestHeadersToRemove = ProtoConvert.HeaderNames(entry.RequestHeadersToRemove, entryPath + ".request_headers_to_remove", errors),
                    ResponseHeadersToAdd = ProtoConvert.Headers(entry.ResponseHeadersToAdd, entryPath + ".response_headers_to_add", errors),
                    ResponseHeadersToRemove = ProtoConvert.HeaderNames(entry.ResponseHeadersToRemove, entryPath + ".response_headers_to_remove", errors),
                },
            });
        }

        if (sum == 0)
        {
            errors.Add(path + ".clusters", "the sum of weights must be greater than 0");
        }
        else if (sum > uint.MaxValue)
        {
            errors.Add(path + ".clusters", "the sum of weights must fit in 32 bits");
        }

        if (weighted.TotalWeight is { } total && total != 0 && total != sum)
        {
            errors.Add(path + ".total_weight", $"is {total} but the weights add up to {sum}");
        }

        return new WeightedClustersConfig { Clusters = clusters.ToImmutable(), UseHashPolicy = weighted.UseHashPolicy is true };
    }

    private const string PreviousHostsPredicate = "envoy.retry_host_predicates.previous_hosts";

    private static RetryPolicyConfig TranslateRetryPolicy(RouteApi.RetryPolicy policy, string path, TranslationErrors errors)
    {
        var retryOn = RetryOn.None;
        var tokens = 0;
        foreach (var rawToken in policy.RetryOn.Split(','))
        {
            var token = rawToken.Trim();
            if (token.Length == 0)
            {
                continue;
            }

            tokens++;
            if (RetryOnNames.TryParse(token, out var flag))
            {
                retryOn |= flag;
            }
            else
            {
                errors.Add(path + ".retry_on", $"'{token}' is not a retry condition SharpProxy honours (honoured: {RetryOnNames.Honoured})");
            }
        }

        if (tokens == 0)
        {
            errors.Add(path + ".retry_on", "at least one retry condition is required");
        }

        var codes = ImmutableArray.CreateBuilder<int>(policy.RetriableStatusCodes.Count);
        for (var i = 0; i < policy.RetriableStatusCodes.Count; i++)
        {
            var code = policy.RetriableStatusCodes[i];
            if (code is < 100 or > 599)
            {
                errors.Add(path + ".retriable_status_codes[" + i + "]", $"{code} is not an HTTP status code");
                continue;
            }

            codes.Add((int)code);
        }

        if ((retryOn & RetryOn.RetriableStatusCodes) != 0 && codes.Count == 0)
        {
            errors.Add(path + ".retriable_status_codes", "retry_on has retriable-status-codes but no code is listed, so it would never retry");
        }

        TimeSpan? perTry = null;
        if (policy.PerTryTimeout is not null)
        {
            var value = policy.PerTryTimeout.ToTimeSpan();
            if (value < TimeSpan.Zero)
            {
                errors.Add(path + ".per_try_timeout", "must not be negative");
            }
            else if (value > TimeSpan.Zero)
            {
                perTry = value;
            }
        }

        var baseInterval = RetryPolicyConfig.DefaultBaseInterval;
        var maxInterval = baseInterval * 10;
        if (policy.RetryBackOff is { } backOff)
        {
            baseInterval = backOff.BaseInterval?.ToTimeSpan() ?? TimeSpan.Zero;
            if (baseInterval < TimeSpan.FromMilliseconds(1))
            {
                errors.Add(path + ".retry_back_off.base_interval", "is required and must be at least 1ms");
                baseInterval = RetryPolicyConfig.DefaultBaseInterval;
            }

            maxInterval = backOff.MaxInterval is null ? baseInterval * 10 : backOff.MaxInterval.ToTimeSpan();
            if (maxInterval < baseInterval)
            {
                errors.Add(path + ".retry_back_off.max_interval", "must not be below base_interval");
            }
        }

        var avoidPrevious = false;
        for (var i = 0; i < policy.RetryHostPredicate.Count; i++)
        {
            var predicate = policy.RetryHostPredicate[i];
            var isPreviousHosts = predicate.Name == PreviousHostsPredicate
                || (predicate.TypedConfig is { } any && any.Is(PreviousHostsApi.PreviousHostsPredicate.Descriptor));
            if (!isPreviousHosts)
            {
                errors.Add(path + ".retry_host_predicate[" + i + "]", $"'{predicate.Name}' is not supported (supported: {PreviousHostsPredicate})");
                continue;
            }

            avoidPrevious = true;
        }

        if (policy.HostSelectionRetryMaxAttempts < 0)
        {
            errors.Add(path + ".host_selection_retry_max_attempts", "must not be negative");
        }

        return new RetryPolicyConfig
        {
            RetryOn = retryOn,
            NumRetries = policy.NumRetries is null ? 1 : (int)Math.Min(policy.NumRetries.Value, 1000),
            PerTryTimeout = perTry,
            RetriableStatusCodes = codes.ToImmutable(),
            BaseInterval = baseInterval,
            MaxInterval = maxInterval,
            AvoidPreviousHosts = avoidPrevious,
            HostSelectionMaxAttempts = policy.HostSelectionRetryMaxAttempts > 0 ? (int)Math.Min(policy.HostSelectionRetryMaxAttempts, 100) : 1,
        };
    }

    private static RedirectConfig TranslateRedirect(RouteApi.RedirectAction redirect, string path, TranslationErrors errors)
    {
        if (redirect.PortRedirect > 65535)
        {
            errors.Add(path + ".port_redirect", $"{redirect.PortRedirect} is not a valid port");
        }

        return new RedirectConfig
        {
            Scheme = redirect.HasHttpsRedirect && redirect.HttpsRedirect ? "https" : redirect.HasSchemeRedirect ? redirect.SchemeRedirect : null,
            Host = redirect.HostRedirect.Length > 0 ? redirect.HostRedirect : null,
            Port = redirect.PortRedirect > 0 ? (int)redirect.PortRedirect : null,
            Path = redirect.HasPathRedirect ? redirect.PathRedirect : null,
            PrefixRewrite = redirect.HasPrefixRewrite ? redirect.PrefixRewrite : null,
            StripQuery = redirect.StripQuery,
            ResponseCode = redirect.ResponseCode switch
            {
                RouteApi.RedirectAction.Types.RedirectResponseCode.Found => 302,
                RouteApi.RedirectAction.Types.RedirectResponseCode.SeeOther => 303,
                RouteApi.RedirectAction.Types.RedirectResponseCode.TemporaryRedirect => 307,
                RouteApi.RedirectAction.Types.RedirectResponseCode.PermanentRedirect => 308,
                _ => 301,
            },
        };
    }

    private static DirectResponseConfig TranslateDirectResponse(RouteApi.DirectResponseAction direct, string path, TranslationErrors errors)
    {
        if (direct.Status < 200 || direct.Status > 599)
        {
            errors.Add(path + ".status", $"{direct.Status} is outside 200-599");
        }

        string? body = null;
        if (direct.Body is { } source)
        {
            switch (source.SpecifierCase)
            {
                case Api.Config.Core.V3.DataSource.SpecifierOneofCase.InlineString:
                    body = source.InlineString;
                    break;
                case Api.Config.Core.V3.DataSource.SpecifierOneofCase.InlineBytes:
                    body = source.InlineBytes.ToStringUtf8();
                    break;
                case Api.Config.Core.V3.DataSource.SpecifierOneofCase.Filename:
                    try
                    {
                        body = File.ReadAllText(source.Filename);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        errors.Add(path + ".body.filename", $"cannot read '{source.Filename}': {ex.Message}");
                    }

                    break;
                case Api.Config.Core.V3.DataSource.SpecifierOneofCase.EnvironmentVariable:
                    body = Environment.GetEnvironmentVariable(source.EnvironmentVariable);
                    if (body is null)
                    {
                        errors.Add(path + ".body.environment_variable", $"'{source.EnvironmentVariable}' is not set");
                    }

                    break;
            }
        }

        return new DirectResponseConfig((int)direct.Status, body);
    }

    private static bool IsNonZero(Google.Protobuf.WellKnownTypes.Duration? duration) =>
        duration is not null && (duration.Seconds != 0 || duration.Nanos != 0);
}
