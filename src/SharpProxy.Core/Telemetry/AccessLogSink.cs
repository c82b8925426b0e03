using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Filters;

namespace SharpProxy.Core.Telemetry;

/// <summary>
/// Writes access log entries in Envoy's default format. Requests only format the line and enqueue it; one background
/// task per target writes, so a slow disk or a blocked stdout never stalls a request (entries are dropped, and counted,
/// when the queue is full).
/// </summary>
internal sealed class AccessLogSink : IAsyncDisposable
{
    private const int QueueCapacity = 16 * 1024;

    private static readonly ConcurrentDictionary<string, AccessLogSink> Sinks = new(StringComparer.Ordinal);

    private readonly Channel<string> _queue = Channel.CreateBounded<string>(
        new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    private readonly Task _writer;
    private long _dropped;

    private AccessLogSink(AccessLogConfig config)
    {
        _writer = Task.Run(() => WriteLoopAsync(config));
    }

    public static long TotalDropped
    {
        get
        {
            long dropped = 0;
            foreach (var sink in Sinks.Values)
            {
                dropped += Volatile.Read(ref sink._dropped);
            }

            return dropped;
        }
    }

    /// <summary>One sink per target, shared by every listener that logs there (Envoy shares file handles the same way).</summary>
    public static AccessLogSink For(AccessLogConfig config) =>
        Sinks.GetOrAdd(config.Target + ":" + config.Path, static (_, c) => new AccessLogSink(c), config);

    public static async Task FlushAllAsync()
    {
        foreach (var sink in Sinks.Values)
        {
            await sink.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Write(string line)
    {
        if (!_queue.Writer.TryWrite(line))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>
    /// Envoy's default format:
    /// [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
    /// %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%"
    /// "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
    /// </summary>
    public static string FormatDefault(HttpContext context, RequestLogState state, string? requestId)
    {
        var request = context.Request;
        var response = context.Response;
        // This proxy's own flag (as the metrics use it); the response header may have come from an upstream proxy.
        var flags = state.ResponseFlags
            ?? (context.RequestAborted.IsCancellationRequested && !response.HasStarted ? ResponseFlags.DownstreamConnectionTermination : ResponseFlags.None);

        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value ?? "/";
        var duration = (long)System.Diagnostics.Stopwatch.GetElapsedTime(state.StartTimestamp).TotalMilliseconds;
        var line = new StringBuilder(256);
        line.Append('[').Append(state.StartTime.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)).Append("] \"")
            .Append(request.Method).Append(' ').Append(rawTarget).Append(' ').Append(request.Protocol).Append("\" ")
            .Append(response.StatusCode.ToString(CultureInfo.InvariantCulture)).Append(' ')
            .Append(flags).Append(' ')
            .Append(state.BytesReceived.ToString(CultureInfo.InvariantCulture)).Append(' ')
            .Append(state.BytesSent.ToString(CultureInfo.InvariantCulture)).Append(' ')
            .Append(duration.ToString(CultureInfo.InvariantCulture)).Append(' ')
            .Append(Dash(response.Headers["x-envoy-upstream-service-time"].ToString())).Append(" \"")
            .Append(Dash(request.Headers["x-forwarded-for"].ToString())).Append("\" \"")
            .Append(Dash(request.Headers.UserAgent.ToString())).Append("\" \"")
            .Append(Dash(requestId ?? request.Headers["x-request-id"].ToString())).Append("\" \"")
            .Append(Dash(request.Headers.Host.ToString())).Append("\" \"")
            .Append(Dash(state.UpstreamHost)).Append("\"\n");
        return line.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Shutting down: entries still queued after 5 s are lost rather than holding the exit.
        }
    }

    private static string Dash(string? value) => string.IsNullOrEmpty(value) ? "-" : value;

    private async Task WriteLoopAsync(AccessLogConfig config)
    {
        Stream stream;
        var ownsStream = false;
        try
        {
            switch (config.Target)
            {
                case AccessLogTarget.Stdout:
                    stream = Console.OpenStandardOutput();
                    break;
                case AccessLogTarget.Stderr:
                    stream = Console.OpenStandardError();
                    break;
                default:
                    stream = new FileStream(config.Path!, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 4096, useAsync: true);
                    ownsStream = true;
                    break;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"access log '{config.Path}': cannot open: {ex.Message}").ConfigureAwait(false);
            while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_queue.Reader.TryRead(out _))
                {
                    Interlocked.Increment(ref _dropped);
                }
            }

            return;
        }

        var writer = new StreamWriter(stream, new UTF8Encoding(false), 16 * 1024);
        try
        {
            while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_queue.Reader.TryRead(out var line))
                {
                    await writer.WriteAsync(line).ConfigureAwait(false);
                }

                // One flush per burst: entries appear promptly without a syscall per request under load.
                await writer.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (IOException)
        {
            // The target went away (closed pipe); nothing left to write to.
        }
        finally
        {
            if (ownsStream)
            {
                await writer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
