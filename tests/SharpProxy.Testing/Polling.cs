using System.Diagnostics;

namespace SharpProxy.Testing;

/// <summary>Bounded polling: every wait in the tests goes through here, bounded in time and in attempts.</summary>
public static class Polling
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// Calls <paramref name="condition"/> until it returns true, at most until <paramref name="timeout"/> has passed.
    /// Throws <see cref="TimeoutException"/> naming <paramref name="description"/> otherwise.
    /// </summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string description, TimeSpan? interval = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var step = interval ?? DefaultInterval;
        var maxAttempts = (int)Math.Max(1, Math.Ceiling(timeout.TotalMilliseconds / Math.Max(1, step.TotalMilliseconds))) + 1;
        var stopwatch = Stopwatch.StartNew();
        for (var attempt = 0; attempt < maxAttempts; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await condition().ConfigureAwait(false))
            {
                return;
            }

            if (stopwatch.Elapsed >= timeout)
            {
                break;
            }

            await Task.Delay(step, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"Timed out after {stopwatch.Elapsed.TotalMilliseconds:F0} ms waiting for: {description}");
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string description, TimeSpan? interval = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return UntilAsync(() => Task.FromResult(condition()), timeout, description, interval, cancellationToken);
    }
}
