using System.Text.Json.Serialization;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Snapshot;

/// <summary>
/// Serialization metadata for cluster fingerprints, generated at build time: comparing clusters on an xDS update needs
/// no reflection or emitted code, and works in a trimmed or native AOT build. Public properties only, as before.
/// </summary>
[JsonSourceGenerationOptions(IncludeFields = false)]
[JsonSerializable(typeof(ClusterConfig))]
internal sealed partial class FingerprintJson : JsonSerializerContext;
