using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace SharpProxy.Core.Http1;

/// <summary>
/// The fast path's header collection: a flat array of (name, values) entries in insertion order, looked up by a linear
/// scan that compares references first (the parser's names are the interned literals the lookups use), then lengths,
/// then ordinal-ignore-case. Requests carry few headers (wrk: 1, h2load: 3, Istio: 10-20), where this beats hashing
/// every name into a <see cref="HeaderDictionary"/>; past <see cref="IndexThreshold"/> entries a case-insensitive
/// name → position index is built on the first lookup so that a 100-header request does not cost O(n²).
/// Behaves like <see cref="HeaderDictionary"/> where callers rely on it: case-insensitive keys, the indexer answers
/// <see cref="StringValues.Empty"/> for a missing key and setting an empty value removes the key, the first spelling
/// of a name is kept. Clear keeps the arrays, so a connection's collection allocates nothing per request in steady
/// state. Not thread-safe; modifying it during an enumeration is not supported.
/// </summary>
internal sealed class FlatHeaderDictionary : IHeaderDictionary
{
    /// <summary>
    /// Above this many entries lookups go through the index. HeaderCollectionBenchmarks (fill, six lookups, one
    /// enumeration; short job): the scan takes 0.44x HeaderDictionary's time at 1-4 headers, 0.51x at 16, 0.93x at 32
    /// and 2.6x at 64 (the fill is quadratic); the index costs 1.15-1.4x HeaderDictionary, so it starts past 32.
    /// </summary>
    internal const int IndexThreshold = 32;

    private readonly int _indexThreshold;

    private Entry[] _entries;
    private int _count;

    // Name → position, valid when _indexed; built lazily once the count passes IndexThreshold.
    private Dictionary<string, int>? _index;
    private bool _indexed;

    public FlatHeaderDictionary(int capacity = 16, int indexThreshold = IndexThreshold)
    {
        _entries = new Entry[Math.Max(capacity, 1)];
        _indexThreshold = indexThreshold;
    }

    public int Count => _count;

    public bool IsReadOnly => false;

    public StringValues this[string key]
    {
        get => TryGetValue(key, out var values) ? values : StringValues.Empty;
        set
        {
            ArgumentNullException.ThrowIfNull(key);
            if (value.Count == 0)
            {
                Remove(key);
                return;
            }

            var position = IndexOf(key);
            if (position >= 0)
            {
                _entries[position].Values = value;
            }
            else
            {
                AddEntry(key, value);
            }
        }
    }

    // IDictionary's indexer throws for a missing key, as HeaderDictionary's does.
    StringValues IDictionary<string, StringValues>.this[string key]
    {
        get => TryGetValue(key, out var values) ? values : throw new KeyNotFoundException($"header '{key}' is not present");
        set => this[key] = value;
    }

    public long? ContentLength
    {
        get
        {
            var raw = this[HeaderNames.ContentLength];
            return raw.Count == 1 && !string.IsNullOrEmpty(raw[0])
                && HeaderUtilities.TryParseNonNegativeInt64(new StringSegment(raw[0]).Trim(), out var length)
                ? length
                : null;
        }

        set
        {
            if (value is { } length)
            {
                this[HeaderNames.ContentLength] = HeaderUtilities.FormatNonNegativeInt64(length);
            }
            else
            {
                Remove(HeaderNames.ContentLength);
            }
        }
    }

    /// <summary>A snapshot of the names (allocates: not for the per-request path).</summary>
    public ICollection<string> Keys
    {
        get
        {
            var keys = new string[_count];
            for (var i = 0; i < _count; i++)
            {
                keys[i] = _entries[i].Name;
            }

            return keys;
        }
    }

    /// <summary>A snapshot of the values (allocates: not for the per-request path).</summary>
    public ICollection<StringValues> Values
    {
        get
        {
            var values = new StringValues[_count];
            for (var i = 0; i < _count; i++)
            {
                values[i] = _entries[i].Values;
            }

            return values;
        }
    }

    /// <summary>The name of the entry at <paramref name="position"/> (0 ≤ position &lt; Count), in insertion order.</summary>
    public string NameAt(int position) => _entries[position].Name;

    /// <summary>The values of the entry at <paramref name="position"/> (0 ≤ position &lt; Count).</summary>
    public StringValues ValuesAt(int position) => _entries[position].Values;

    /// <summary>
    /// Adds <paramref name="value"/> after the values already held under <paramref name="name"/> (a repeated header
    /// line), or a new entry at the end; as HeaderDictionaryExtensions.Append, an empty result removes the name.
    /// </summary>
    public void Append(string name, StringValues value)
    {
        ArgumentNullException.ThrowIfNull(name);
        var position = IndexOf(name);
        if (position >= 0)
        {
            var combined = StringValues.Concat(_entries[position].Values, value);
            if (combined.Count == 0)
            {
                RemoveAt(position);
            }
            else
            {
                _entries[position].Values = combined;
            }
        }
        else if (value.Count > 0)
        {
            AddEntry(name, value);
        }
    }

    public void Add(string key, StringValues value)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (IndexOf(key) >= 0)
        {
            throw new ArgumentException($"header '{key}' is already present", nameof(key));
        }

        AddEntry(key, value);
    }

    public void Add(KeyValuePair<string, StringValues> item) => Add(item.Key, item.Value);

    public bool ContainsKey(string key) => IndexOf(key) >= 0;

    public bool Contains(KeyValuePair<string, StringValues> item) =>
        TryGetValue(item.Key, out var values) && StringValues.Equals(values, item.Value);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out StringValues value)
    {
        var position = IndexOf(key);
        if (position >= 0)
        {
            value = _entries[position].Values;
            return true;
        }

        value = default;
        return false;
    }

    public bool Remove(string key)
    {
        var position = IndexOf(key);
        if (position < 0)
        {
            return false;
        }

        RemoveAt(position);
        return true;
    }

    public bool Remove(KeyValuePair<string, StringValues> item)
    {
        var position = IndexOf(item.Key);
        if (position < 0 || !StringValues.Equals(_entries[position].Values, item.Value))
        {
            return false;
        }

        RemoveAt(position);
        return true;
    }

    /// <summary>Empties the collection, keeping its arrays (and the index's buckets) for the next request.</summary>
    public void Clear()
    {
        // Drop the references so that a long-idle connection does not keep the last request's strings alive.
        Array.Clear(_entries, 0, _count);
        _count = 0;
        if (_indexed)
        {
            _index!.Clear();
            _indexed = false;
        }
    }

    public void CopyTo(KeyValuePair<string, StringValues>[] array, int arrayIndex)
    {
        ArgumentNullException.ThrowIfNull(array);
        ArgumentOutOfRangeException.ThrowIfNegative(arrayIndex);
        if (array.Length - arrayIndex < _count)
        {
            throw new ArgumentException("the destination array is too small", nameof(array));
        }

        for (var i = 0; i < _count; i++)
        {
            array[arrayIndex + i] = new KeyValuePair<string, StringValues>(_entries[i].Name, _entries[i].Values);
        }
    }

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<string, StringValues>> IEnumerable<KeyValuePair<string, StringValues>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The position of <paramref name="name"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int IndexOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _count > _indexThreshold ? IndexedPositionOf(name) : ScanFor(name);
    }

    private int ScanFor(string name)
    {
        var entries = _entries.AsSpan(0, _count);
        var length = name.Length;
        if (length == 0)
        {
            for (var i = 0; i < entries.Length; i++)
            {
                if (entries[i].Name.Length == 0)
                {
                    return i;
                }
            }

            return -1;
        }

        // Names of one length often share a prefix (x-b3-..., x-envoy-...): their last and middle characters reject
        // most of them before the (not inlined) ordinal-ignore-case comparison.
        var last = name[length - 1];
        var middle = name[length >> 1];
        for (var i = 0; i < entries.Length; i++)
        {
            var candidate = entries[i].Name;
            if (ReferenceEquals(candidate, name))
            {
                return i;
            }

            if (candidate.Length == length
                && !DifferAsAscii(candidate[length - 1], last)
                && !DifferAsAscii(candidate[length >> 1], middle)
                && string.Equals(candidate, name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Whether two characters certainly differ under ordinal-ignore-case: both ASCII and different once ASCII letters
    /// are folded (folding with 0x20 may merge two non-letters, which only lets the full comparison decide).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool DifferAsAscii(char a, char b) => (a | b) < 0x80 && (a | 0x20) != (b | 0x20);

    private int IndexedPositionOf(string name)
    {
        if (!_indexed)
        {
            var index = _index ??= new Dictionary<string, int>(IndexThreshold * 2, StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < _count; i++)
            {
                index.TryAdd(_entries[i].Name, i);
            }

            _indexed = true;
        }

        return _index!.TryGetValue(name, out var position) ? position : -1;
    }

    private void AddEntry(string name, StringValues values)
    {
        if (_count == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        _entries[_count] = new Entry(name, values);
        if (_indexed)
        {
            _index!.TryAdd(name, _count);
        }

        _count++;
    }

    private void RemoveAt(int position)
    {
        _count--;
        if (position < _count)
        {
            // Shift, not swap: the order of the remaining headers is the order they are forwarded in.
            Array.Copy(_entries, position + 1, _entries, position, _count - position);
        }

        _entries[_count] = default;
        if (_indexed)
        {
            // Positions after the removed one moved; the index is rebuilt on the next lookup that needs it.
            _index!.Clear();
            _indexed = false;
        }
    }

    private struct Entry(string name, StringValues values)
    {
        public readonly string Name = name;
        public StringValues Values = values;
    }

    /// <summary>A struct enumerator, so that <c>foreach</c> over the concrete type allocates nothing.</summary>
    public struct Enumerator : IEnumerator<KeyValuePair<string, StringValues>>
    {
        private readonly FlatHeaderDictionary _owner;
        private int _position;

        internal Enumerator(FlatHeaderDictionary owner)
        {
            _owner = owner;
            _position = -1;
        }

        public readonly KeyValuePair<string, StringValues> Current
        {
            get
            {
                ref readonly var entry = ref _owner._entries[_position];
                return new KeyValuePair<string, StringValues>(entry.Name, entry.Values);
            }
        }

        readonly object IEnumerator.Current => Current;

        public bool MoveNext() => ++_position < _owner._count;

        public void Reset() => _position = -1;

        public readonly void Dispose()
        {
        }
    }
}
