using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace SharpProxy.Core.Telemetry.AccessLog;

/// <summary>
/// An access log format (Envoy's SubstitutionFormatString), compiled once when the config is applied: text
/// (literal and operator segments) or JSON (keys to templates). A request only captures the values the format reads
/// into an <see cref="AccessLogEntry"/>; the line is written from the entry on the sink's background task.
/// </summary>
internal sealed class AccessLogFormat : IEquatable<AccessLogFormat>
{
    /// <summary>Envoy's default format (used when an access log has no log_format).</summary>
    public const string EnvoyDefaultText =
        "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% "
        + "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" "
        + "\"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n";

    public static readonly AccessLogFormat EnvoyDefault = ParseText(EnvoyDefaultText, omitEmptyValues: false);

    private static readonly string Hostname = Environment.MachineName;

    private readonly Segment[]? _text;
    private readonly JsonTemplate? _json;

    private AccessLogFormat(string source, bool omitEmptyValues, HeaderSlot[] slots, Segment[]? text, JsonTemplate? json)
    {
        Source = source;
        OmitEmptyValues = omitEmptyValues;
        Slots = slots;
        _text = text;
        _json = json;
    }

    /// <summary>The format as configured (text, or the JSON object's text): equal sources make equal formats.</summary>
    public string Source { get; }

    public bool OmitEmptyValues { get; }

    public bool IsJson => _json is not null;

    /// <summary>The headers the format reads, in the order their values are captured into an entry.</summary>
    public HeaderSlot[] Slots { get; }

    /// <summary>Compiles a text format (text_format_source inline_string).</summary>
    /// <exception cref="FormatException">An unknown or malformed command operator (the message names it and its position).</exception>
    public static AccessLogFormat ParseText(string format, bool omitEmptyValues)
    {
        var slots = new List<HeaderSlot>();
        var segments = ParseSegments(format, slots);
        return new AccessLogFormat(format, omitEmptyValues, [.. slots], segments, null);
    }

    /// <summary>Compiles a json_format object given as JSON text (keys keep their order; values may nest).</summary>
    /// <exception cref="FormatException">An unknown or malformed command operator, naming the key it is under.</exception>
    public static AccessLogFormat ParseJson(string jsonObject, bool omitEmptyValues)
    {
        using var document = JsonDocument.Parse(jsonObject);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("json_format must be an object");
        }

        var slots = new List<HeaderSlot>();
        var template = CompileJson(document.RootElement, "", slots);
        return new AccessLogFormat(jsonObject, omitEmptyValues, [.. slots], null, template);
    }

    /// <summary>Writes one entry: the text line, or one JSON object and a newline (as Envoy ends JSON entries).</summary>
    public void Write(AccessLogEntry entry, StringBuilder output)
    {
        if (_text is not null)
        {
            foreach (var segment in _text)
            {
                if (segment.Operator is null)
                {
                    output.Append(segment.Literal);
                }
                else if (!TryWriteValue(segment.Operator, entry, output) && !OmitEmptyValues)
                {
                    output.Append('-');
                }
            }

            return;
        }

        WriteJson(_json!, entry, output);
        output.Append('\n');
    }

    public bool Equals(AccessLogFormat? other) => other is not null && other.Source == Source && other.OmitEmptyValues == OmitEmptyValues && other.IsJson == IsJson;

    public override bool Equals(object? obj) => Equals(obj as AccessLogFormat);

    public override int GetHashCode() => HashCode.Combine(Source, OmitEmptyValues, IsJson);

    private static Segment[] ParseSegments(string format, List<HeaderSlot> slots)
    {
        var segments = new List<Segment>();
        var literal = new StringBuilder();
        var i = 0;
        while (i < format.Length)
        {
            var c = format[i];
            if (c != '%')
            {
                literal.Append(c);
                i++;
                continue;
            }

            var start = i;
            var j = i + 1;
            while (j < format.Length && (char.IsAsciiLetterUpper(format[j]) || char.IsAsciiDigit(format[j]) || format[j] == '_'))
            {
                j++;
            }

            var name = format[(i + 1)..j];
            if (name.Length == 0)
            {
                throw new FormatException($"'%' at position {start} does not start a command operator (expected %NAME%)");
            }

            string? argument = null;
            if (j < format.Length && format[j] == '(')
            {
                var close = format.IndexOf(')', j);
                if (close < 0)
                {
                    throw new FormatException($"command operator %{name}( at position {start} has no closing ')'");
                }

                argument = format[(j + 1)..close];
                j = close + 1;
            }

            var maxLength = 0;
            if (j < format.Length && format[j] == ':')
            {
                var digitsStart = ++j;
                while (j < format.Length && char.IsAsciiDigit(format[j]))
                {
                    j++;
                }

                if (j == digitsStart || !int.TryParse(format.AsSpan(digitsStart, j - digitsStart), NumberStyles.None, CultureInfo.InvariantCulture, out maxLength) || maxLength == 0)
                {
                    throw new FormatException($"command operator %{name}% at position {start}: the length after ':' must be a positive number");
                }
            }

            if (j >= format.Length || format[j] != '%')
            {
                throw new FormatException($"command operator %{name} at position {start} is not closed by '%'");
            }

            if (literal.Length > 0)
            {
                segments.Add(new Segment(literal.ToString(), null));
                literal.Clear();
            }

            segments.Add(new Segment(null, CreateOperator(name, argument, maxLength, start, slots)));
            i = j + 1;
        }

        if (literal.Length > 0)
        {
            segments.Add(new Segment(literal.ToString(), null));
        }

        return [.. segments];
    }

    private static AccessLogOperator CreateOperator(string name, string? argument, int maxLength, int position, List<HeaderSlot> slots)
    {
        switch (name)
        {
            case "REQ":
            case "REQ_WITHOUT_QUERY":
            case "RESP":
            case "TRAILER":
                {
                    if (string.IsNullOrEmpty(argument))
                    {
                        throw new FormatException($"command operator %{name}% at position {position} needs a header name: %{name}(X)% or %{name}(X?Y)%");
                    }

                    var source = name == "RESP" ? HeaderSource.Response : name == "TRAILER" ? HeaderSource.Trailer : HeaderSource.Request;
                    var question = argument.IndexOf('?');
                    var main = question < 0 ? argument : argument[..question];
                    var alternative = question < 0 ? null : argument[(question + 1)..];
                    if (main.Length == 0 || alternative is { Length: 0 } || (alternative?.Contains('?') ?? false))
                    {
                        throw new FormatException($"command operator %{name}({argument})% at position {position}: expected X or X?Y");
                    }

                    return new AccessLogOperator
                    {
                        Kind = name switch
                        {
                            "RESP" => AccessLogOperatorKind.ResponseHeader,
                            "TRAILER" => AccessLogOperatorKind.ResponseTrailer,
                            "REQ_WITHOUT_QUERY" => AccessLogOperatorKind.RequestHeaderWithoutQuery,
                            _ => AccessLogOperatorKind.RequestHeader,
                        },
                        HeaderSlot = SlotFor(slots, source, main),
                        AlternativeSlot = alternative is null ? -1 : SlotFor(slots, source, alternative),
                        MaxLength = maxLength,
                    };
                }

            case "START_TIME":
                return new AccessLogOperator
                {
                    Kind = AccessLogOperatorKind.StartTime,
                    TimeFormat = string.IsNullOrEmpty(argument) ? StartTimeFormat.Default : StartTimeFormat.Parse(argument),
                    MaxLength = maxLength,
                };
        }

        AccessLogOperatorKind? kind = name switch
        {
            "PROTOCOL" => AccessLogOperatorKind.Protocol,
            "RESPONSE_CODE" => AccessLogOperatorKind.ResponseCode,
            "RESPONSE_CODE_DETAILS" => AccessLogOperatorKind.ResponseCodeDetails,
            "CONNECTION_TERMINATION_DETAILS" => AccessLogOperatorKind.ConnectionTerminationDetails,
            "RESPONSE_FLAGS" => AccessLogOperatorKind.ResponseFlags,
            "BYTES_RECEIVED" => AccessLogOperatorKind.BytesReceived,
            "BYTES_SENT" => AccessLogOperatorKind.BytesSent,
            "DURATION" => AccessLogOperatorKind.Duration,
            "REQUEST_DURATION" => AccessLogOperatorKind.RequestDuration,
            "RESPONSE_DURATION" => AccessLogOperatorKind.ResponseDuration,
            "UPSTREAM_HOST" or "UPSTREAM_REMOTE_ADDRESS" => AccessLogOperatorKind.UpstreamHost,
            "UPSTREAM_CLUSTER" or "UPSTREAM_CLUSTER_RAW" => AccessLogOperatorKind.UpstreamCluster,
            "UPSTREAM_LOCAL_ADDRESS" => AccessLogOperatorKind.UpstreamLocalAddress,
            "UPSTREAM_TRANSPORT_FAILURE_REASON" => AccessLogOperatorKind.UpstreamTransportFailureReason,
            "UPSTREAM_REQUEST_ATTEMPT_COUNT" => AccessLogOperatorKind.UpstreamRequestAttemptCount,
            "DOWNSTREAM_REMOTE_ADDRESS" or "DOWNSTREAM_DIRECT_REMOTE_ADDRESS" => AccessLogOperatorKind.DownstreamRemoteAddress,
            "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" or "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT" => AccessLogOperatorKind.DownstreamRemoteAddressWithoutPort,
            "DOWNSTREAM_LOCAL_ADDRESS" => AccessLogOperatorKind.DownstreamLocalAddress,
            "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT" => AccessLogOperatorKind.DownstreamLocalAddressWithoutPort,
            "REQUESTED_SERVER_NAME" => AccessLogOperatorKind.RequestedServerName,
            "ROUTE_NAME" => AccessLogOperatorKind.RouteName,
            "HOSTNAME" => AccessLogOperatorKind.Hostname,
            "TRACE_ID" => AccessLogOperatorKind.TraceId,
            _ => null,
        };

        if (kind is null)
        {
            throw new FormatException($"unknown or unsupported command operator %{name}% at position {position}");
        }

        if (argument is not null)
        {
            throw new FormatException($"command operator %{name}% at position {position} takes no argument");
        }

        return new AccessLogOperator { Kind = kind.Value, MaxLength = maxLength };
    }

    private static int SlotFor(List<HeaderSlot> slots, HeaderSource source, string name)
    {
        var lower = name.ToLowerInvariant();
        for (var i = 0; i < slots.Count; i++)
        {
            if (slots[i].Source == source && slots[i].Name == lower)
            {
                return i;
            }
        }

        slots.Add(new HeaderSlot(source, lower));
        return slots.Count - 1;
    }

    private static JsonTemplate CompileJson(JsonElement element, string path, List<HeaderSlot> slots)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                {
                    var fields = new List<(string, JsonTemplate)>();
                    foreach (var property in element.EnumerateObject())
                    {
                        var keyPath = path.Length == 0 ? property.Name : path + "." + property.Name;
                        fields.Add((System.Text.Json.Nodes.JsonValue.Create(property.Name).ToJsonString(), CompileJson(property.Value, keyPath, slots)));
                    }

                    return new JsonTemplate { Fields = [.. fields] };
                }

            case JsonValueKind.String:
                try
                {
                    return new JsonTemplate { Segments = ParseSegments(element.GetString()!, slots) };
                }
                catch (FormatException ex)
                {
                    throw new FormatException($"json_format key '{path}': {ex.Message}", ex);
                }

            case JsonValueKind.Array:
                throw new FormatException($"json_format key '{path}': lists are not supported (Envoy refuses them too)");
            default:
                // Numbers, booleans and null are written as configured.
                return new JsonTemplate { RawJson = element.GetRawText() };
        }
    }

    private void WriteJson(JsonTemplate template, AccessLogEntry entry, StringBuilder output)
    {
        output.Append('{');
        var first = true;
        foreach (var (key, value) in template.Fields!)
        {
            var mark = output.Length;
            if (!first)
            {
                output.Append(',');
            }

            output.Append(key).Append(':');
            if (!WriteJsonValue(value, entry, output) && OmitEmptyValues)
            {
                // Envoy drops keys whose value is empty when omit_empty_values is set.
                output.Length = mark;
                continue;
            }

            first = false;
        }

        output.Append('}');
    }

    /// <returns>False when the value was empty (written as null).</returns>
    private bool WriteJsonValue(JsonTemplate value, AccessLogEntry entry, StringBuilder output)
    {
        if (value.RawJson is { } raw)
        {
            output.Append(raw);
            return true;
        }

        if (value.Fields is not null)
        {
            WriteJson(value, entry, output);
            return true;
        }

        var segments = value.Segments!;
        if (segments.Length == 1 && segments[0].Operator is { } single)
        {
            // A value that is exactly one operator is typed as Envoy types it: numbers as numbers, empty as null.
            var start = output.Length;
            if (single.IsNumeric)
            {
                if (TryWriteValue(single, entry, output))
                {
                    return true;
                }

                output.Append("null");
                return false;
            }

            var scratch = new StringBuilder();
            if (!TryWriteValue(single, entry, scratch))
            {
                output.Length = start;
                output.Append("null");
                return false;
            }

            AppendJsonString(output, scratch);
            return true;
        }

        var text = new StringBuilder();
        foreach (var segment in segments)
        {
            if (segment.Operator is null)
            {
                text.Append(segment.Literal);
            }
            else if (!TryWriteValue(segment.Operator, entry, text) && !OmitEmptyValues)
            {
                text.Append('-');
            }
        }

        AppendJsonString(output, text);
        return true;
    }

    private static void AppendJsonString(StringBuilder output, StringBuilder value)
    {
        output.Append('"');
        foreach (var chunk in value.GetChunks())
        {
            foreach (var c in chunk.Span)
            {
                switch (c)
                {
                    case '"': output.Append("\\\""); break;
                    case '\\': output.Append("\\\\"); break;
                    case '\n': output.Append("\\n"); break;
                    case '\r': output.Append("\\r"); break;
                    case '\t': output.Append("\\t"); break;
                    default:
                        if (c < ' ')
                        {
                            output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            output.Append(c);
                        }

                        break;
                }
            }
        }

        output.Append('"');
    }

    /// <returns>False when the operator has no value for this entry (nothing written).</returns>
    private static bool TryWriteValue(AccessLogOperator op, AccessLogEntry entry, StringBuilder output)
    {
        ref readonly var facts = ref entry.Facts;
        switch (op.Kind)
        {
            case AccessLogOperatorKind.StartTime:
                {
                    var start = output.Length;
                    op.TimeFormat!.Write(facts.StartTime, output);
                    if (op.MaxLength > 0 && output.Length - start > op.MaxLength)
                    {
                        output.Length = start + op.MaxLength;
                    }

                    return true;
                }

            case AccessLogOperatorKind.RequestHeader:
            case AccessLogOperatorKind.ResponseHeader:
            case AccessLogOperatorKind.ResponseTrailer:
                return Text(output, entry.Headers[op.HeaderSlot] ?? (op.AlternativeSlot >= 0 ? entry.Headers[op.AlternativeSlot] : null), op.MaxLength);
            case AccessLogOperatorKind.RequestHeaderWithoutQuery:
                {
                    var value = entry.Headers[op.HeaderSlot] ?? (op.AlternativeSlot >= 0 ? entry.Headers[op.AlternativeSlot] : null);
                    var query = value?.IndexOf('?') ?? -1;
                    return Text(output, query >= 0 ? value![..query] : value, op.MaxLength);
                }

            case AccessLogOperatorKind.Protocol: return Text(output, facts.Protocol, op.MaxLength);
            case AccessLogOperatorKind.ResponseCode: return Number(output, facts.ResponseCode);
            case AccessLogOperatorKind.ResponseCodeDetails: return Text(output, facts.ResponseCodeDetails, op.MaxLength);
            case AccessLogOperatorKind.ConnectionTerminationDetails: return Text(output, facts.ConnectionTerminationDetails, op.MaxLength);
            case AccessLogOperatorKind.ResponseFlags: return Text(output, facts.ResponseFlags ?? Filters.ResponseFlags.None, op.MaxLength);
            case AccessLogOperatorKind.BytesReceived: return Number(output, facts.BytesReceived);
            case AccessLogOperatorKind.BytesSent: return Number(output, facts.BytesSent);
            case AccessLogOperatorKind.Duration: return Number(output, facts.DurationMs);
            case AccessLogOperatorKind.RequestDuration: return facts.RequestDurationMs >= 0 && Number(output, facts.RequestDurationMs);
            case AccessLogOperatorKind.ResponseDuration: return facts.ResponseDurationMs >= 0 && Number(output, facts.ResponseDurationMs);
            case AccessLogOperatorKind.UpstreamHost: return Text(output, facts.UpstreamHost, op.MaxLength);
            case AccessLogOperatorKind.UpstreamCluster: return Text(output, facts.UpstreamCluster, op.MaxLength);
            case AccessLogOperatorKind.UpstreamLocalAddress: return Text(output, facts.UpstreamLocalAddress, op.MaxLength);
            case AccessLogOperatorKind.UpstreamTransportFailureReason: return Text(output, facts.UpstreamTransportFailureReason, op.MaxLength);
            case AccessLogOperatorKind.UpstreamRequestAttemptCount: return facts.UpstreamAttempts > 0 && Number(output, facts.UpstreamAttempts);
            case AccessLogOperatorKind.DownstreamRemoteAddress: return Address(output, facts.DownstreamRemote, withPort: true, op.MaxLength);
            case AccessLogOperatorKind.DownstreamRemoteAddressWithoutPort: return Address(output, facts.DownstreamRemote, withPort: false, op.MaxLength);
            case AccessLogOperatorKind.DownstreamLocalAddress: return Address(output, facts.DownstreamLocal, withPort: true, op.MaxLength);
            case AccessLogOperatorKind.DownstreamLocalAddressWithoutPort: return Address(output, facts.DownstreamLocal, withPort: false, op.MaxLength);
            case AccessLogOperatorKind.RequestedServerName: return Text(output, facts.RequestedServerName, op.MaxLength);
            case AccessLogOperatorKind.RouteName: return Text(output, facts.RouteName, op.MaxLength);
            case AccessLogOperatorKind.Hostname: return Text(output, Hostname, op.MaxLength);
            case AccessLogOperatorKind.TraceId: return Text(output, facts.TraceId, op.MaxLength);
            default: return false;
        }
    }

    private static bool Text(StringBuilder output, string? value, int maxLength)
    {
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        output.Append(maxLength > 0 && value.Length > maxLength ? value.AsSpan(0, maxLength) : value.AsSpan());
        return true;
    }

    private static bool Number(StringBuilder output, long value)
    {
        output.Append(value);
        return true;
    }

    private static bool Address(StringBuilder output, IPEndPoint? endPoint, bool withPort, int maxLength)
    {
        if (endPoint is null)
        {
            return false;
        }

        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        var text = !withPort ? address.ToString()
            : address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "[" + address + "]:" + endPoint.Port.ToString(CultureInfo.InvariantCulture)
            : address + ":" + endPoint.Port.ToString(CultureInfo.InvariantCulture);
        return Text(output, text, maxLength);
    }

    private readonly record struct Segment(string? Literal, AccessLogOperator? Operator);

    /// <summary>A compiled json_format value: an object (Fields), a template string (Segments), or a configured literal.</summary>
    private sealed class JsonTemplate
    {
        public (string EscapedKey, JsonTemplate Value)[]? Fields { get; init; }

        public Segment[]? Segments { get; init; }

        public string? RawJson { get; init; }
    }
}

internal enum HeaderSource
{
    Request,
    Response,
    Trailer,
}

/// <summary>One header a format reads (lower-case name; request pseudo-headers as :method, :path, :authority, :scheme).</summary>
internal readonly record struct HeaderSlot(HeaderSource Source, string Name);
