using System.Collections.Immutable;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Routing;

/// <summary>
/// Envoy's request/response header mutations (source/common/router/header_parser.cc and config_impl.cc).
/// <para>Order of levels: the picked weighted cluster's first (always, as Envoy's WeightedClusterEntry does), then route,
/// virtual host, route configuration — or route configuration, virtual host, route when
/// most_specific_header_mutations_wins. A later level wins.</para>
/// <para>Within one level: removals first; then every addition is evaluated against the headers as they are after the
/// removals (so ADD_IF_ABSENT / OVERWRITE_IF_EXISTS do not see this level's own additions); then all overwrites are
/// applied in order, then all appends. An empty value is skipped unless keep_empty_value. Values are used literally
/// (Envoy's %FORMATTER% substitution is not supported).</para>
/// </summary>
internal static class HeaderMutator
{
    private const byte Skip = 0;
    private const byte Overwrite = 1;
    private const byte Append = 2;
    private const int StackLimit = 64;

    public static void ApplyRequest(IHeaderDictionary headers, RouteTableConfig table, VirtualHostConfig vhost, RouteConfig route, WeightedClusterConfig? weighted)
    {
        if (weighted is not null)
        {
            ApplyLevel(headers, weighted.Headers.RequestHeadersToRemove, weighted.Headers.RequestHeadersToAdd);
        }

        if (table.MostSpecificHeaderMutationsWins)
        {
            ApplyLevel(headers, table.Headers.RequestHeadersToRemove, table.Headers.RequestHeadersToAdd);
            ApplyLevel(headers, vhost.Headers.RequestHeadersToRemove, vhost.Headers.RequestHeadersToAdd);
            ApplyLevel(headers, route.Headers.RequestHeadersToRemove, route.Headers.RequestHeadersToAdd);
        }
        else
        {
            ApplyLevel(headers, route.Headers.RequestHeadersToRemove, route.Headers.RequestHeadersToAdd);
            ApplyLevel(headers, vhost.Headers.RequestHeadersToRemove, vhost.Headers.RequestHeadersToAdd);
            ApplyLevel(headers, table.Headers.RequestHeadersToRemove, table.Headers.RequestHeadersToAdd);
        }
    }

    public static void ApplyResponse(IHeaderDictionary headers, RouteTableConfig table, VirtualHostConfig vhost, RouteConfig route, WeightedClusterConfig? weighted)
    {
        if (weighted is not null)
        {
            ApplyLevel(headers, weighted.Headers.ResponseHeadersToRemove, weighted.Headers.ResponseHeadersToAdd);
        }

        if (table.MostSpecificHeaderMutationsWins)
        {
            ApplyLevel(headers, table.Headers.ResponseHeadersToRemove, table.Headers.ResponseHeadersToAdd);
            ApplyLevel(headers, vhost.Headers.ResponseHeadersToRemove, vhost.Headers.ResponseHeadersToAdd);
            ApplyLevel(headers, route.Headers.ResponseHeadersToRemove, route.Headers.ResponseHeadersToAdd);
        }
        else
        {
            ApplyLevel(headers, route.Headers.ResponseHeadersToRemove, route.Headers.ResponseHeadersToAdd);
            ApplyLevel(headers, vhost.Headers.ResponseHeadersToRemove, vhost.Headers.ResponseHeadersToAdd);
            ApplyLevel(headers, table.Headers.ResponseHeadersToRemove, table.Headers.ResponseHeadersToAdd);
        }
    }

    /// <summary>One HeaderParser::evaluateHeaders.</summary>
    internal static void ApplyLevel(IHeaderDictionary headers, ImmutableArray<string> remove, ImmutableArray<HeaderValueOptionConfig> add)
    {
        if (!remove.IsDefaultOrEmpty)
        {
            foreach (var name in remove)
            {
                headers.Remove(name);
            }
        }

        if (add.IsDefaultOrEmpty)
        {
            return;
        }

        Span<byte> actions = add.Length <= StackLimit ? stackalloc byte[StackLimit] : new byte[add.Length];
        actions = actions[..add.Length];
        var overwrites = false;
        var appends = false;
        for (var i = 0; i < add.Length; i++)
        {
            var option = add[i];
            var action = Skip;
            if (option.Value.Length > 0 || option.KeepEmptyValue)
            {
                action = option.Action switch
                {
                    HeaderAppendAction.AppendIfExistsOrAdd => Append,
                    HeaderAppendAction.AddIfAbsent => IsPresent(headers, option.Name) ? Skip : Append,
                    HeaderAppendAction.OverwriteIfExists => IsPresent(headers, option.Name) ? Overwrite : Skip,
                    HeaderAppendAction.OverwriteIfExistsOrAdd => Overwrite,
                    _ => Skip,
                };
            }

            actions[i] = action;
            overwrites |= action == Overwrite;
            appends |= action == Append;
        }

        if (overwrites)
        {
            for (var i = 0; i < add.Length; i++)
            {
                if (actions[i] == Overwrite)
                {
                    headers[add[i].Name] = add[i].Value;
                }
            }
        }

        if (appends)
        {
            for (var i = 0; i < add.Length; i++)
            {
                if (actions[i] == Append)
                {
                    AppendValue(headers, add[i].Name, add[i].Value);
                }
            }
        }
    }

    /// <summary>
    /// Adds one more value. Not <c>HeaderDictionaryExtensions.Append</c>, which silently drops an empty value and so would
    /// defeat keep_empty_value.
    /// </summary>
    private static void AppendValue(IHeaderDictionary headers, string name, string value) =>
        headers[name] = headers.TryGetValue(name, out var existing) && existing.Count > 0
            ? StringValues.Concat(existing, value)
            : new StringValues(value);

    private static bool IsPresent(IHeaderDictionary headers, string name) =>
        headers.TryGetValue(name, out var values) && values.Count > 0;
}
