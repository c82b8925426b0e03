using System.Text.Json.Serialization;

namespace SharpProxy.Admin;

/// <summary>
/// Serialization metadata for the admin API's JSON answers (/server_info, /certs, /listeners?format=json), generated
/// at build time: they are trees of dictionaries and lists of these types, and reflection-based serialization is not
/// available in a trimmed or native AOT build.
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(object))]
[JsonSerializable(typeof(Dictionary<string, object?>))]
[JsonSerializable(typeof(Dictionary<string, object>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<object>))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(bool))]
internal sealed partial class AdminJson : JsonSerializerContext;
