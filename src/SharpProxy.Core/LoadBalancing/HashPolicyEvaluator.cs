using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Hashing;

namespace SharpProxy.Core.LoadBalancing;

/// <summary>
/// Envoy's route <c>hash_policy</c> (source/common/http/hash_policy.cc, router.h): per-policy xxh64 values combined
/// in configuration order as <c>hash = rotl64(hash, 1) ^ value</c> (the first value is used as is), policies without
/// a value skipped, <c>terminal</c> stopping once any hash exists. Allocation-free for single-valued headers, cookies,
/// query parameters and source IPs; multi-valued headers and generated cookies allocate.
/// </summary>
internal static class HashPolicyEvaluator
{
    /// <summary>Computes the request hash, or null when no policy produced a value (the balancer then picks randomly).</summary>
    /// <param name="setCookie">
    /// A <c>Set-Cookie</c> value to add to the response when a cookie policy with <c>ttl</c> generated the cookie.
    /// </param>
    public static ulong? Compute(
        ImmutableArray<HashPolicyConfig> policies,
        IHeaderDictionary headers,
        string? query,
        IPEndPoint? remote,
        IPEndPoint? local,
        out string? setCookie)
    {
        setCookie = null;
        ulong? hash = null;
        foreach (var policy in policies)
        {
            ulong? value = policy.Kind switch
            {
                HashPolicyKind.Header => HeaderHash(headers, policy.Name),
                HashPolicyKind.Cookie => CookieHash(headers, policy, remote, local, ref setCookie),
                HashPolicyKind.SourceIp => SourceIpHash(remote),
                HashPolicyKind.QueryParameter => QueryHash(query, policy.Name),
                _ => null,
            };
            if (value is { } v)
            {
                hash = hash is { } old ? ((old << 1) | (old >> 63)) ^ v : v;
            }

            if (policy.Terminal && hash.HasValue)
            {
                break;
            }
        }

        return hash;
    }

    /// <summary>All values of the header, sorted bytewise, hashed with the chained list xxh64; one value is <c>xxh64(value)</c>.</summary>
    public static ulong? HeaderHash(IHeaderDictionary headers, string name)
    {
        if (!headers.TryGetValue(name, out var values) || values.Count == 0)
        {
            return null;
        }

        if (values.Count == 1)
        {
            return XxHash64.HashUtf8(values[0] ?? "");
        }

        var sorted = new string[values.Count];
        for (var i = 0; i < sorted.Length; i++)
        {
            sorted[i] = values[i] ?? "";
        }

        Array.Sort(sorted, static (a, b) => CompareUtf8(a, b));
        return XxHash64.HashList(sorted);
    }

    private static ulong? CookieHash(IHeaderDictionary headers, HashPolicyConfig policy, IPEndPoint? remote, IPEndPoint? local, ref string? setCookie)
    {
        if (TryGetCookie(headers, policy.Name, out var value) && value.Length > 0)
        {
            return XxHash64.HashUtf8(value);
        }

        if (policy.CookieTtl is not { } ttl || remote is null || local is null)
        {
            return null;
        }

        var generated = GenerateCookieValue(remote, local);
        setCookie = MakeSetCookie(policy.Name, generated, policy.CookiePath, ttl, policy.CookieAttributes);
        return XxHash64.HashUtf8(generated);
    }

    /// <summary>
    /// Envoy's <c>Utility::parseCookieValue</c>: every <c>cookie</c> header, split on ';', leading spaces skipped,
    /// exact (case-sensitive) name match, first match wins, one pair of surrounding quotes stripped.
    /// </summary>
    public static bool TryGetCookie(IHeaderDictionary headers, string name, out ReadOnlySpan<char> value)
    {
        var cookies = headers.Cookie;
        for (var h = 0; h < cookies.Count; h++)
        {
            var rest = (cookies[h] ?? "").AsSpan();
            while (!rest.IsEmpty)
            {
                var end = rest.IndexOf(';');
                var item = end < 0 ? rest : rest[..end];
                rest = end < 0 ? [] : rest[(end + 1)..];
                item = item.TrimStart(' ');
                var eq = item.IndexOf('=');
                if (eq < 0 || !item[..eq].SequenceEqual(name))
                {
                    continue;
                }

                var v = item[(eq + 1)..];
                if (v.Length >= 2 && v[0] == '"' && v[^1] == '"')
                {
                    v = v[1..^1];
                }

                value = v;
                return true;
            }
        }

        value = default;
        return false;
    }

    private static ulong? SourceIpHash(IPEndPoint? remote)
    {
        if (remote is null)
        {
            return null;
        }

        Span<char> buffer = stackalloc char[64];
        var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
        return address.TryFormat(buffer, out var written) ? XxHash64.HashUtf8(buffer[..written]) : null;
    }

    /// <summary>Envoy's <c>parseQueryString</c>: split on '&amp;', name up to the first '=', no percent-decoding, first match wins.</summary>
    public static ulong? QueryHash(string? query, string name)
    {
        if (string.IsNullOrEmpty(query))
        {
            return null;
        }

        var rest = query.AsSpan();
        if (rest[0] == '?')
        {
            rest = rest[1..];
        }

        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf('&');
            var item = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 1)..];
            var eq = item.IndexOf('=');
            var key = eq < 0 ? item : item[..eq];
            if (key.SequenceEqual(name))
            {
                return XxHash64.HashUtf8(eq < 0 ? [] : item[(eq + 1)..]);
            }
        }

        return null;
    }

    /// <summary>Envoy's generated cookie: <c>uint64ToHex(xxh64(remote.asString() + local.asString()))</c>.</summary>
    public static string GenerateCookieValue(IPEndPoint remote, IPEndPoint local) =>
        XxHash64.ToHex(XxHash64.HashUtf8(AddressString(remote) + AddressString(local)));

    /// <summary>Envoy's <c>Address::asString()</c>: "a.b.c.d:port" or "[v6]:port".</summary>
    public static string AddressString(IPEndPoint endPoint)
    {
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        return address.AddressFamily == AddressFamily.InterNetworkV6
            ? "[" + address + "]:" + endPoint.Port
            : address + ":" + endPoint.Port;
    }

    /// <summary>
    /// Envoy's <c>makeSetCookieValue(name, value, path, ttl, httponly=true, attributes)</c>: <c>name="value"</c>,
    /// <c>; Max-Age=s</c> unless ttl is 0, <c>; Path=p</c> if set, each attribute, then <c>; HttpOnly</c>.
    /// </summary>
    public static string MakeSetCookie(string name, string value, string? path, TimeSpan ttl, ImmutableArray<KeyValuePair<string, string>> attributes)
    {
        var builder = new StringBuilder(64);
        builder.Append(name).Append("=\"").Append(value).Append('"');
        var seconds = (long)ttl.TotalSeconds;
        if (ttl != TimeSpan.Zero)
        {
            builder.Append("; Max-Age=").Append(seconds);
        }

        if (!string.IsNullOrEmpty(path))
        {
            builder.Append("; Path=").Append(path);
        }

        if (!attributes.IsDefault)
        {
            foreach (var attribute in attributes)
            {
                builder.Append("; ").Append(attribute.Key);
                if (attribute.Value.Length > 0)
                {
                    builder.Append('=').Append(attribute.Value);
                }
            }
        }

        return builder.Append("; HttpOnly").ToString();
    }

    private static int CompareUtf8(string a, string b)
    {
        // Bytewise order of the UTF-8 encodings (what std::sort over string_views does); ordinal UTF-16 order
        // agrees with it for everything outside the surrogate range, which header values never reach.
        return string.CompareOrdinal(a, b);
    }
}
