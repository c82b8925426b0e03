using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry.AccessLog;

namespace SharpProxy.Core.Telemetry;

/// <summary>
/// Writes access log entries in their configured format (Envoy's default when none). Requests only capture the values
/// the format reads and enqueue the entry; one background task per target formats and writes, so a slow disk or a blocked stdout never stalls a request (entries are dropped, and counted,
/// when the queue is full).
/// </summary>
internal sealed class AccessLogSink : IAsyncDisposable
{
    private const int QueueCapacity = 16 * 1024;

    private static readonly ConcurrentDictionary<string, AccessLogSink> Sinks = new(StringComparer.Ordinal);

    private readonly Channel<AccessLogEntry> _queue = Channel.CreateBounded<AccessLogEntry>(
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

    /// <summary>Queues one captured entry; the line is formatted by the writer task, not by the request.</summary>
    public void Write(AccessLogEntry entry)
    {
        if (!_queue.Writer.TryWrite(entry))
        {
            Interlocked.Increment(ref _dropped);
        }
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
        var line = new StringBuilder(512);
        try
        {
            while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_queue.Reader.TryRead(out var entry))
                {
                    line.Clear();
                    entry.Format.Write(entry, line);
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
