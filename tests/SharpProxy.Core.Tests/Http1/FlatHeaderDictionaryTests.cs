using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using SharpProxy.Core.Http1;

namespace SharpProxy.Core.Tests.Http1;

public sealed class FlatHeaderDictionaryTests
{
    [Fact]
    public void Lookup_IsCaseInsensitive_AndKeepsTheFirstSpelling()
    {
        var headers = new FlatHeaderDictionary { ["X-Trace"] = "a" };

        headers["x-trace"] = "b";

        Assert.Equal("b", headers["X-TRACE"]);
        Assert.True(headers.ContainsKey("x-TrAcE"));
        Assert.Equal("X-Trace", Assert.Single(headers).Key);
    }

    [Fact]
    public void Lookup_EqualButNotTheSameString_IsFound()
    {
        var headers = new FlatHeaderDictionary();
        headers.Append(new string("x-request-id".AsSpan()), "id");

        Assert.True(headers.TryGetValue("x-request-id", out var value));
        Assert.Equal("id", value);
    }

    [Theory]
    [InlineData("x-b3-spanid", "X-B3-SPANID")]
    [InlineData("x-b3-spanid", "x-b3-spanie")]
    [InlineData("x-b3-spanid", "x-b3-sxanid")]
    [InlineData("x-@", "x-`")]
    [InlineData("x-\u00e0b", "X-\u00c0B")]
    [InlineData("x-\u0131d", "x-Id")]
    [InlineData("x-\u212a", "x-k")]
    [InlineData("", "")]
    public void Lookup_SameLengthNames_AgreesWithHeaderDictionary(string stored, string looked)
    {
        stored = System.Text.RegularExpressions.Regex.Unescape(stored);
        looked = System.Text.RegularExpressions.Regex.Unescape(looked);
        var headers = new FlatHeaderDictionary { ["x-other"] = "o" };
        headers.Add(stored, "v");
        var reference = new HeaderDictionary { ["x-other"] = "o" };
        reference.Add(stored, "v");

        Assert.Equal(reference.ContainsKey(looked), headers.ContainsKey(looked));
        Assert.Equal(reference[looked], headers[looked]);
    }

    [Fact]
    public void Indexer_MissingKey_Empty_AndIDictionaryIndexerThrows()
    {
        var headers = new FlatHeaderDictionary();

        Assert.Equal(StringValues.Empty, headers["absent"]);
        Assert.False(headers.TryGetValue("absent", out _));
        Assert.Throws<KeyNotFoundException>(() => ((IDictionary<string, StringValues>)headers)["absent"]);
    }

    [Fact]
    public void Append_RepeatedName_JoinsValuesInOrder()
    {
        var headers = new FlatHeaderDictionary();
        headers.Append("accept", "a");
        headers.Append("host", "h");
        headers.Append("Accept", "b");

        Assert.Equal(2, headers.Count);
        Assert.Equal(new[] { "a", "b" }, headers["accept"].ToArray());
        Assert.Equal(["accept", "host"], NamesOf(headers));
    }

    [Fact]
    public void SetEmptyOrNull_RemovesTheName_AsHeaderDictionary()
    {
        var headers = new FlatHeaderDictionary { ["a"] = "1", ["b"] = "2" };
        var reference = new HeaderDictionary { ["a"] = "1", ["b"] = "2" };

        headers["a"] = StringValues.Empty;
        reference["a"] = StringValues.Empty;
        headers["b"] = (string?)null;
        reference["b"] = (string?)null;

        Assert.Equal(reference.Count, headers.Count);
        Assert.Empty(headers);
    }

    [Fact]
    public void Remove_KeepsTheOrderOfTheOthers()
    {
        var headers = new FlatHeaderDictionary { ["a"] = "1", ["b"] = "2", ["c"] = "3", ["d"] = "4" };

        Assert.True(headers.Remove("B"));
        Assert.False(headers.Remove("b"));
        Assert.False(headers.Remove(new KeyValuePair<string, StringValues>("c", "other")));
        Assert.True(headers.Remove(new KeyValuePair<string, StringValues>("d", "4")));

        Assert.Equal(["a", "c"], NamesOf(headers));
    }

    [Fact]
    public void Add_ExistingName_Throws()
    {
        var headers = new FlatHeaderDictionary { { "a", "1" } };

        Assert.Throws<ArgumentException>(() => headers.Add("A", "2"));
        Assert.Equal("1", headers["a"]);
    }

    [Fact]
    public void ContentLength_ParsesAndFormats_AsHeaderDictionary()
    {
        var headers = new FlatHeaderDictionary { ["content-length"] = " 42 " };
        Assert.Equal(42, headers.ContentLength);

        headers["content-length"] = new StringValues(["1", "1"]);
        Assert.Null(headers.ContentLength);

        headers.ContentLength = 7;
        Assert.Equal("7", headers["Content-Length"]);
        Assert.Equal("content-length", Assert.Single(headers).Key);

        headers.ContentLength = null;
        Assert.Empty(headers);
    }

    [Fact]
    public void KeysValuesCopyToContains_MatchTheEntries()
    {
        var headers = new FlatHeaderDictionary { ["a"] = "1", ["b"] = new StringValues(["2", "3"]) };
        var copy = new KeyValuePair<string, StringValues>[3];

        headers.CopyTo(copy, 1);

        Assert.Equal(["a", "b"], headers.Keys);
        Assert.Equal([new StringValues("1"), new StringValues(["2", "3"])], headers.Values);
        Assert.Equal("b", copy[2].Key);
        // The collection's own Contains: key case-insensitive, values compared.
        var sameKeyOtherCase = headers.Contains(new KeyValuePair<string, StringValues>("A", "1"));
        var otherValue = headers.Contains(new KeyValuePair<string, StringValues>("a", "2"));
        Assert.True(sameKeyOtherCase);
        Assert.False(otherValue);
        Assert.False(headers.IsReadOnly);
    }

    [Fact]
    public void Enumerator_StructAndInterface_YieldTheSameEntries()
    {
        var headers = new FlatHeaderDictionary { ["a"] = "1", ["b"] = "2" };
        var viaStruct = new List<string>();
        foreach (var header in headers)
        {
            viaStruct.Add(header.Key + "=" + header.Value);
        }

        var viaInterface = new List<string>();
        foreach (var header in (IEnumerable<KeyValuePair<string, StringValues>>)headers)
        {
            viaInterface.Add(header.Key + "=" + header.Value);
        }

        Assert.Equal(["a=1", "b=2"], viaStruct);
        Assert.Equal(viaStruct, viaInterface);
    }

    [Fact]
    public void Clear_ThenReuse_HoldsOnlyTheNewEntries_AndAllocatesNothing()
    {
        var headers = new FlatHeaderDictionary();
        string[] names = ["host", "accept", "user-agent"];
        Fill(headers, names);
        Fill(headers, names);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 100; round++)
        {
            Fill(headers, names);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(names, NamesOf(headers));
        headers.Clear();
        Assert.Empty(headers);
        Assert.False(headers.ContainsKey("host"));
    }

    [Fact]
    public void BeyondTheIndexThreshold_LookupsAppendsAndRemovesStayCorrect()
    {
        var headers = new FlatHeaderDictionary(capacity: 2);
        var count = (FlatHeaderDictionary.IndexThreshold * 2) + 3;
        for (var i = 0; i < count; i++)
        {
            headers.Append("x-h" + i.ToString(CultureInfo.InvariantCulture), i.ToString(CultureInfo.InvariantCulture));
        }

        Assert.Equal("7", headers["X-H7"]);
        headers.Append("x-h7", "again");
        Assert.True(headers.Remove("x-h0"));
        headers["x-new"] = "n";

        Assert.Equal(count, headers.Count);
        Assert.Equal(new[] { "7", "again" }, headers["x-h7"].ToArray());
        Assert.Equal("n", headers["x-new"]);
        Assert.False(headers.ContainsKey("x-h0"));
        Assert.Equal("x-h1", headers.NameAt(0));
        Assert.Equal("x-new", headers.NameAt(count - 1));
        for (var i = 1; i < count - 1; i++)
        {
            var name = "X-H" + i.ToString(CultureInfo.InvariantCulture);
            Assert.Equal(i == 7 ? 2 : 1, headers[name].Count);
        }

        headers.Clear();
        headers.Append("x-h5", "fresh");
        Assert.Equal("fresh", headers["x-h5"]);
        Assert.False(headers.ContainsKey("x-h6"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomOperations_SameResultsAsHeaderDictionary(int seed)
    {
        var random = new Random(seed);
        var flat = new FlatHeaderDictionary(capacity: 1);
        var reference = new HeaderDictionary();

        // Few distinct names in mixed case, so that hits, repeats and removals happen, across the index threshold.
        for (var step = 0; step < 2000; step++)
        {
            var name = "h" + random.Next(40).ToString(CultureInfo.InvariantCulture);
            name = random.Next(2) == 0 ? name : name.ToUpperInvariant();
            var value = random.Next(5) == 0 ? StringValues.Empty : new StringValues("v" + step.ToString(CultureInfo.InvariantCulture));
            switch (random.Next(6))
            {
                case 0:
                    flat[name] = value;
                    reference[name] = value;
                    break;
                case 1:
                    flat.Append(name, value);
                    reference.Append(name, value);
                    break;
                case 2:
                    Assert.Equal(reference.Remove(name), flat.Remove(name));
                    break;
                case 3:
                    Assert.Equal(reference[name], flat[name]);
                    Assert.Equal(reference.ContainsKey(name), flat.ContainsKey(name));
                    break;
                case 4 when random.Next(50) == 0:
                    flat.Clear();
                    reference.Clear();
                    break;
                default:
                    Assert.Equal(reference.TryGetValue(name, out var expected), flat.TryGetValue(name, out var actual));
                    Assert.Equal(expected, actual);
                    break;
            }

            Assert.Equal(reference.Count, flat.Count);
        }

        foreach (var header in reference)
        {
            Assert.Equal(header.Value, flat[header.Key]);
        }
    }

    private static void Fill(FlatHeaderDictionary headers, string[] names)
    {
        headers.Clear();
        foreach (var name in names)
        {
            headers.Append(name, name);
        }
    }

    private static List<string> NamesOf(FlatHeaderDictionary headers)
    {
        var names = new List<string>();
        foreach (var header in headers)
        {
            names.Add(header.Key);
        }

        return names;
    }
}
