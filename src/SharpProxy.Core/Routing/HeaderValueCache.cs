using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace SharpProxy.Core.Routing;

/// <summary>
/// Header values looked up during one route search, so that many routes matching on the same header (Istio's
/// header-based routing) look it up — and join repeated values — once. Lives on the stack for the duration of
/// <see cref="CompiledVirtualHost.FindRoute"/>; each virtual host numbers its most used header names into
/// <see cref="Capacity"/> slots at compile time.
/// </summary>
internal struct HeaderValueCache
{
    public const int Capacity = 8;

    private Slots _values;
    private int _fetched;

    /// <summary>The header's value (repeated values joined with ','), or null when absent.</summary>
    public string? Get(int slot, IHeaderDictionary headers, string name)
    {
        if ((uint)slot >= Capacity)
        {
            return Lookup(headers, name);
        }

        var bit = 1 << slot;
        if ((_fetched & bit) != 0)
        {
            return _values[slot];
        }

        var value = Lookup(headers, name);
        _values[slot] = value;
        _fetched |= bit;
        return value;
    }

    public static string? Lookup(IHeaderDictionary headers, string name)
    {
        if (!headers.TryGetValue(name, out var values))
        {
            return null;
        }

        return values.Count switch
        {
            0 => null,
            1 => values[0] ?? "",
            _ => JoinMany(values),
        };
    }

    // Envoy's getAllOfHeaderAsString: values joined with ',' (no space).
    private static string JoinMany(StringValues values) => string.Join(',', (IEnumerable<string?>)values);

    [InlineArray(Capacity)]
    private struct Slots
    {
        private string? _element;
    }
}
