using System.Buffers;
using System.Text;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry;
using SharpProxy.Core.Telemetry.AccessLog;

namespace SharpProxy.Core.Http1;

/// <summary>
/// The fast path's side of the access log: the same compiled formats and sink as the Kestrel path, read from the
/// parsed request headers and a copy of the relayed response head. Only connection managers with an access_log pay
/// for it (the entry and the strings it captures).
/// </summary>
internal sealed partial class Http1Connection
{
    private byte[]? _responseHead;
    private int _responseHeadLength;
    private string? _generatedRequestId;

    /// <summary>Set per request when the connection manager logs.</summary>
    private bool _keepResponseHead;

    private void KeepResponseHead(ReadOnlySpan<byte> head)
    {
        if (_responseHead is null || _responseHead.Length < head.Length)
        {
            if (_responseHead is not null)
            {
                ArrayPool<byte>.Shared.Return(_responseHead);
            }

            _responseHead = ArrayPool<byte>.Shared.Rent(Math.Max(head.Length, 1024));
        }

        head.CopyTo(_responseHead);
        _responseHeadLength = head.Length;
    }

    private void ReleaseAccessLogBuffers()
    {
        if (_responseHead is not null)
        {
            ArrayPool<byte>.Shared.Return(_responseHead);
            _responseHead = null;
        }
    }

    private void WriteAccessLogs(HttpConnectionManagerConfig http, int code, string? flags)
    {
        var facts = HttpContextAccessLog.Facts(_log, _socket.Protocol, code, flags, _connection);
        var headers = new FastPathLogHeaders(this);
        foreach (var log in http.AccessLogs)
        {
            AccessLogSink.For(log).Write(AccessLogEntry.Capture(log.Format, ref headers, facts));
        }
    }

    private string? ResponseHeaderForLog(string name)
    {
        if (_responseHeadLength == 0 || _responseHead is null)
        {
            return null;
        }

        var head = _responseHead.AsSpan(0, _responseHeadLength);
        for (var i = 0; i < _upstreamHeaderCount; i++)
        {
            ref readonly var span = ref _upstreamSpans[i];
            if (Ascii.EqualsIgnoreCase(head.Slice(span.NameStart, span.NameLength), name))
            {
                return Encoding.Latin1.GetString(head.Slice(span.ValueStart, span.ValueLength));
            }
        }

        return null;
    }

    /// <summary>Header lookup for the access log: request headers as parsed (after mutations), the relayed response head.</summary>
    private readonly struct FastPathLogHeaders(Http1Connection connection) : IAccessLogHeaders
    {
        public string? RequestHeader(string name) => name switch
        {
            ":method" => connection._method,
            ":path" => connection._lastTarget,
            ":scheme" => connection._socket.IsTls ? "https" : "http",
            ":authority" => First("host"),
            "x-request-id" => connection._generatedRequestId ?? First(name),
            _ => First(name),
        };

        public string? ResponseHeader(string name) => connection.ResponseHeaderForLog(name);

        public string? ResponseTrailer(string name) => null;

        private string? First(string name) =>
            connection._headers.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;
    }
}
