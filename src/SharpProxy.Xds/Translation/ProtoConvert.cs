using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using Google.Protobuf.WellKnownTypes;
using SharpProxy.Core.Configuration;
using CoreApi = SharpProxy.Xds.Api.Config.Core.V3;
using MatcherApi = SharpProxy.Xds.Api.Type.Matcher.V3;

namespace SharpProxy.Xds.Translation;

/// <summary>Small conversions shared by the translators.</summary>
internal static class ProtoConvert
{
    public static TimeSpan? ToTimeSpan(Duration? duration) => duration?.ToTimeSpan();

    public static bool TryGetSocketAddress(CoreApi.Address? address, string path, TranslationErrors errors, out string ip, out int port)
    {
        ip = "";
        port = 0;
        if (address is null || address.AddressCase == CoreApi.Address.AddressOneofCase.None)
        {
            errors.Add(path, "an address is required");
            return false;
        }

        if (address.AddressCase != CoreApi.Address.AddressOneofCase.SocketAddress)
        {
            errors.NotYetSupported(path + ".pipe", "a pipe address here");
            return false;
        }

        var socket = address.SocketAddress;
        if (socket.Protocol != CoreApi.SocketAddress.Types.Protocol.Tcp)
        {
            errors.Add(path + ".socket_address.protocol", "only TCP is supported");
            return false;
        }

        if (string.IsNullOrEmpty(socket.Address))
        {
            errors.Add(path + ".socket_address.address", "an address is required");
            return false;
        }

        if (socket.PortValue > 65535)
        {
            errors.Add(path + ".socket_address.port_value", $"{socket.PortValue} is not a valid port");
            return false;
        }

        ip = socket.Address;
        port = (int)socket.PortValue;
        return true;
    }

    public static ImmutableArray<HeaderValueOptionConfig> Headers(IEnumerable<CoreApi.HeaderValueOption> options, string path, TranslationErrors errors)
    {
        var result = ImmutableArray.CreateBuilder<HeaderValueOptionConfig>();
        var index = 0;
        foreach (var option in options)
        {
            var itemPath = path + "[" + index++ + "]";
            var header = option.Header;
            if (header is null || string.IsNullOrEmpty(header.Key))
            {
                errors.Add(itemPath + ".header.key", "a header name is required");
                continue;
            }

            if (header.Key.StartsWith(':') || header.Key.Equals("host", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add(itemPath + ".header.key", $"'{header.Key}' cannot be modified (Envoy refuses pseudo-headers and host here)");
                continue;
            }

            var value = header.RawValue.IsEmpty ? header.Value : header.RawValue.ToStringUtf8();
            if (value.Contains('%', StringComparison.Ordinal))
            {
                errors.NotYetSupported(itemPath + ".header.value", "a header value with %COMMAND% substitution");
                continue;
            }

            var action = option.Append switch
            {
                // The deprecated append flag maps onto the two actions it stood for.
                true => HeaderAppendAction.AppendIfExistsOrAdd,
                false => HeaderAppendAction.OverwriteIfExistsOrAdd,
                null => (HeaderAppendAction)(int)option.AppendAction,
            };
            result.Add(new HeaderValueOptionConfig(header.Key.ToLowerInvariant(), value, action, option.KeepEmptyValue));
        }

        return result.ToImmutable();
    }

    public static ImmutableArray<string> HeaderNames(IEnumerable<string> names, string path, TranslationErrors errors)
    {
        var result = ImmutableArray.CreateBuilder<string>();
        var index = 0;
        foreach (var name in names)
        {
            if (string.IsNullOrEmpty(name) || name.StartsWith(':'))
            {
                errors.Add(path + "[" + index + "]", $"'{name}' cannot be removed");
            }
            else
            {
                result.Add(name.ToLowerInvariant());
            }

            index++;
        }

        return result.ToImmutable();
    }

    public static StringMatcherConfig? StringMatcher(MatcherApi.StringMatcher? matcher, string path, TranslationErrors errors)
    {
        if (matcher is null)
        {
            errors.Add(path, "a string matcher is required");
            return null;
        }

        switch (matcher.MatchPatternCase)
        {
            case MatcherApi.StringMatcher.MatchPatternOneofCase.Exact:
                return new StringMatcherConfig(StringMatchKind.Exact, matcher.Exact, matcher.IgnoreCase);
            case MatcherApi.StringMatcher.MatchPatternOneofCase.Prefix:
                return NonEmpty(new StringMatcherConfig(StringMatchKind.Prefix, matcher.Prefix, matcher.IgnoreCase), path + ".prefix", errors);
            case MatcherApi.StringMatcher.MatchPatternOneofCase.Suffix:
                return NonEmpty(new StringMatcherConfig(StringMatchKind.Suffix, matcher.Suffix, matcher.IgnoreCase), path + ".suffix", errors);
            case MatcherApi.StringMatcher.MatchPatternOneofCase.Contains:
                return NonEmpty(new StringMatcherConfig(StringMatchKind.Contains, matcher.Contains, matcher.IgnoreCase), path + ".contains", errors);
            case MatcherApi.StringMatcher.MatchPatternOneofCase.SafeRegex:
                {
                    var regex = Regex(matcher.SafeRegex, path + ".safe_regex", errors);
                    return regex is null ? null : new StringMatcherConfig(StringMatchKind.SafeRegex, regex, matcher.IgnoreCase);
                }

            default:
                errors.Add(path, "one of exact, prefix, suffix, contains, safe_regex is required");
                return null;
        }
    }

    private static StringMatcherConfig? NonEmpty(StringMatcherConfig matcher, string path, TranslationErrors errors)
    {
        if (matcher.Value.Length == 0)
        {
            errors.Add(path, "must not be empty");
            return null;
        }

        return matcher;
    }

    /// <summary>Validates a RE2 pattern by compiling it with .NET's engine; returns the pattern or null.</summary>
    public static string? Regex(MatcherApi.RegexMatcher? matcher, string path, TranslationErrors errors)
    {
        if (matcher is null || string.IsNullOrEmpty(matcher.Regex))
        {
            errors.Add(path + ".regex", "a regex is required");
            return null;
        }

        try
        {
            // Validate exactly as the route compiler will compile it (RE2 syntax translated for .NET).
            _ = Core.Routing.CompiledRegex.Create(matcher.Regex);
            return matcher.Regex;
        }
        catch (ArgumentException ex)
        {
            errors.Add(path + ".regex", $"invalid regex '{matcher.Regex}': {ex.Message}");
            return null;
        }
    }

    /// <summary>A Struct's top-level fields as text: strings as they are, numbers and bools as text, structs and lists as JSON.</summary>
    public static ImmutableDictionary<string, string> Struct(Struct? value)
    {
        if (value is null || value.Fields.Count == 0)
        {
            return ImmutableDictionary<string, string>.Empty;
        }

        var entries = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var (key, field) in value.Fields)
        {
            entries[key] = ValueText(field);
        }

        return entries.ToImmutable();
    }

    private static string ValueText(Value value) => value.KindCase switch
    {
        Value.KindOneofCase.StringValue => value.StringValue,
        Value.KindOneofCase.NumberValue => value.NumberValue.ToString(CultureInfo.InvariantCulture),
        Value.KindOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        Value.KindOneofCase.NullValue => "",
        _ => Google.Protobuf.JsonFormatter.Default.Format(value),
    };

    public static MetadataConfig Metadata(CoreApi.Metadata? metadata)
    {
        if (metadata is null || metadata.FilterMetadata.Count == 0)
        {
            return MetadataConfig.Empty;
        }

        var filters = ImmutableDictionary.CreateBuilder<string, ImmutableDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var (filter, values) in metadata.FilterMetadata)
        {
            var entries = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in values.Fields)
            {
                entries[key] = value.KindCase switch
                {
                    Value.KindOneofCase.StringValue => value.StringValue,
                    Value.KindOneofCase.NumberValue => value.NumberValue.ToString(CultureInfo.InvariantCulture),
                    Value.KindOneofCase.BoolValue => value.BoolValue ? "true" : "false",
                    Value.KindOneofCase.NullValue => "",
                    _ => Google.Protobuf.JsonFormatter.Default.Format(value),
                };
            }

            filters[filter] = entries.ToImmutable();
        }

        return new MetadataConfig(filters.ToImmutable());
    }

    public static bool TryParseCidr(CoreApi.CidrRange range, string path, TranslationErrors errors, out CidrRange cidr)
    {
        cidr = default;
        if (!IPAddress.TryParse(range.AddressPrefix, out var prefix))
        {
            errors.Add(path + ".address_prefix", $"'{range.AddressPrefix}' is not an IP address");
            return false;
        }

        var max = prefix.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        var length = (int)(range.PrefixLen ?? 0u);
        if (length > max)
        {
            errors.Add(path + ".prefix_len", $"{length} exceeds {max}");
            return false;
        }

        cidr = new CidrRange(prefix, length);
        return true;
    }
}
