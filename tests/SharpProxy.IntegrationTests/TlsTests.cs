using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using SharpProxy.Testing;
using Xunit.Abstractions;

namespace SharpProxy.IntegrationTests;

/// <summary>
/// TLS against the real proxy: SNI chain selection (exact and wildcard), ALPN h2, mTLS with a SPIFFE URI SAN (missing,
/// wrong-SAN and expired client certificates refused and counted), passthrough by SNI, upstream TLS (CA + SAN
/// verification, client certificate, transport_socket_matches), with HttpClient, curl and openssl as clients.
/// </summary>
public sealed class TlsTests(TlsFixture fixture, ITestOutputHelper output) : IClassFixture<TlsFixture>, IDisposable
{
    public void Dispose()
    {
        try
        {
            output.WriteLine(fixture.Proxy.Describe(8 * 1024));
        }
        catch (InvalidOperationException)
        {
        }
    }

    [Fact]
    public async Task Get_SniExactName_ServesThatChainsCertificateAndForwardsAsHttps()
    {
        X509Certificate2? seen = null;
        using var client = Client("a.example.com", certificate => seen = certificate);

        using var response = await client.GetAsync(Url("a.example.com", "/echo-a"));
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        Assert.NotNull(seen);
        Assert.Equal(fixture.ServerA.Certificate.Thumbprint, seen.Thumbprint);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Contains("\"x-forwarded-proto\":[\"https\"]", body, StringComparison.Ordinal);
        Assert.Contains("\"label\":\"plain\"", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_SniUnderWildcard_ServesWildcardChainOverHttp1()
    {
        X509Certificate2? seen = null;
        using var client = Client("x.b.example.com", certificate => seen = certificate);

        using var response = await client.GetAsync(Url("x.b.example.com", "/echo-b"));
        await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        Assert.Equal(fixture.ServerB.Certificate.Thumbprint, seen?.Thumbprint);

        // The wildcard chain offers only http/1.1.
        Assert.Equal(HttpVersion.Version11, response.Version);

        // Terminated on the fast path's event loop, unless this assembly tests the Kestrel path.
        var fastPath = PathUnderTest.FastPath;
        var terminatedOnLoop = await StatAsync("http1_fast_path.tls_connections", "");
        output.WriteLine($"fast path expected: {fastPath}; http1_fast_path.tls_connections: {terminatedOnLoop}");
        Assert.Equal(fastPath, terminatedOnLoop > 0);
    }

    [Fact]
    public async Task Curl_SniAndAlpn_NegotiatesH2WithTheRightCertificate()
    {
        var (exitCode, stdout, stderr) = await RunAsync(
            "curl",
            "-sS", "--http2", "--cacert", fixture.Pki.CaPath,
            "--resolve", $"a.example.com:{fixture.Port}:127.0.0.1",
            "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
            $"https://a.example.com:{fixture.Port}/curl");

        Assert.True(exitCode == 0, $"curl exit {exitCode}: {stderr}");
        Assert.Equal("2 200", stdout.Trim());
    }

    [Fact]
    public async Task OpensslSClient_WildcardSni_PresentsWildcardCertificate()
    {
        var (_, stdout, stderr) = await RunAsync(
            "openssl",
            "s_client", "-connect", $"127.0.0.1:{fixture.Port}", "-servername", "deep.b.example.com", "-CAfile", fixture.Pki.CaPath);

        Assert.Contains("b-wildcard", stdout + stderr, StringComparison.Ordinal);
        Assert.Contains("Verify return code: 0", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpensslSClient_ConnectionClose_EndsWithCloseNotify()
    {
        // The proxy closes after this response: TLS must end with close_notify before the TCP FIN, as Envoy's
        // SSL_shutdown does; OpenSSL 3 reports an end without it as "unexpected eof while reading" (a possible cut).
        var (exitCode, stdout, stderr) = await RunWithInputAsync(
            "openssl",
            "GET /close-notify HTTP/1.1\r\nHost: x.b.example.com\r\nConnection: close\r\n\r\n",
            "s_client", "-connect", $"127.0.0.1:{fixture.Port}", "-servername", "x.b.example.com", "-CAfile", fixture.Pki.CaPath, "-ign_eof", "-quiet");

        output.WriteLine(stderr);
        Assert.Contains("HTTP/1.1 200", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("unexpected eof", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.True(exitCode == 0, "s_client exit code " + exitCode + ": " + stderr);
    }

    [Theory]
    [InlineData("ECDHE-ECDSA-AES256-GCM-SHA384", true)]
    [InlineData("ECDHE-ECDSA-AES128-GCM-SHA256", false)]
    public async Task OpensslSClient_Tls12CipherSuites_OnlyConfiguredOnesNegotiate(string cipher, bool accepted)
    {
        var (exitCode, stdout, stderr) = await RunAsync(
            "openssl",
            "s_client", "-connect", $"127.0.0.1:{fixture.Port}", "-servername", "x.b.example.com", "-tls1_2", "-cipher", cipher, "-CAfile", fixture.Pki.CaPath);

        if (accepted)
        {
            Assert.True(exitCode == 0, stderr);
            Assert.Contains("Cipher is " + cipher, stdout, StringComparison.Ordinal);
        }
        else
        {
            Assert.True(exitCode != 0, "the handshake must fail: " + stdout);
        }
    }

    [Fact]
    public async Task Get_MutualTlsWithSpiffeClientCertificate_Succeeds()
    {
        using var client = Client("mtls.example.com", clientCertificate: fixture.Client.Certificate);

        using var response = await client.GetAsync(Url("mtls.example.com", "/mtls"));

        await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);
    }

    [Fact]
    public async Task Curl_MutualTlsWithoutClientCertificate_IsRefusedAndCounted()
    {
        var before = await StatAsync("ssl.fail_verify_no_cert");

        var (exitCode, _, stderr) = await RunAsync(
            "curl",
            "-sS", "--cacert", fixture.Pki.CaPath,
            "--resolve", $"mtls.example.com:{fixture.Port}:127.0.0.1",
            "-o", "/dev/null", "-w", "%{http_code}",
            $"https://mtls.example.com:{fixture.Port}/no-cert");

        Assert.True(exitCode != 0, "curl without a client certificate must fail; stderr: " + stderr);
        await Polling.UntilAsync(async () => await StatAsync("ssl.fail_verify_no_cert") > before, TimeSpan.FromSeconds(10), "ssl.fail_verify_no_cert did not grow");
        Assert.True(await StatAsync("ssl.connection_error") > 0);
    }

    [Fact]
    public async Task Curl_MutualTlsWithClientCertificate_Succeeds()
    {
        var (exitCode, stdout, stderr) = await RunAsync(
            "curl",
            "-sS", "--cacert", fixture.Pki.CaPath,
            "--cert", fixture.Client.CertificatePath, "--key", fixture.Client.KeyPath,
            "--resolve", $"mtls.example.com:{fixture.Port}:127.0.0.1",
            "-o", "/dev/null", "-w", "%{http_code}",
            $"https://mtls.example.com:{fixture.Port}/with-cert");

        Assert.True(exitCode == 0, $"curl exit {exitCode}: {stderr}");
        Assert.Equal("200", stdout.Trim());
    }

    [Fact]
    public async Task Get_MutualTlsWithWrongSan_IsRefusedAndCountedAsSanFailure()
    {
        var before = await StatAsync("ssl.fail_verify_san");
        using var client = Client("mtls.example.com", clientCertificate: fixture.ClientWrongSan.Certificate);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(Url("mtls.example.com", "/wrong-san")));

        await Polling.UntilAsync(async () => await StatAsync("ssl.fail_verify_san") > before, TimeSpan.FromSeconds(10), "ssl.fail_verify_san did not grow");
    }

    [Fact]
    public async Task Get_MutualTlsWithExpiredCertificate_IsRefused()
    {
        var before = await StatAsync("ssl.fail_verify_error");
        using var client = Client("mtls.example.com", clientCertificate: fixture.ClientExpired.Certificate);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(Url("mtls.example.com", "/expired")));

        await Polling.UntilAsync(async () => await StatAsync("ssl.fail_verify_error") > before, TimeSpan.FromSeconds(10), "ssl.fail_verify_error did not grow");

        // The listener survives every refused handshake.
        using var good = Client("a.example.com");
        using var response = await good.GetAsync(Url("a.example.com", "/after-failures"));
        await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);
    }

    [Fact]
    public async Task Get_PassthroughSni_RelaysEncryptedBytesToTheUpstreamsOwnTls()
    {
        X509Certificate2? seen = null;
        using var client = Client("pass.example.com", certificate => seen = certificate);

        using var response = await client.GetAsync(Url("pass.example.com", "/pass"));
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        // The certificate is the upstream's: the proxy did not terminate TLS.
        Assert.Equal(fixture.Passthrough.Certificate.Thumbprint, seen?.Thumbprint);
        Assert.Contains("\"label\":\"open\"", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_TlsTerminatedTcpProxyChain_RelaysPlaintextToTheUpstream()
    {
        X509Certificate2? seen = null;
        using var client = Client("tcp.example.com", certificate => seen = certificate);

        using var response = await client.GetAsync(Url("tcp.example.com", "/tcp-tls"));
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        // The proxy's certificate, the plaintext echo upstream behind it, and no HTTP processing (no x-forwarded-proto).
        Assert.Equal(fixture.ServerA.Certificate.Thumbprint, seen?.Thumbprint);
        Assert.Contains("\"label\":\"plain\"", body, StringComparison.Ordinal);
        Assert.DoesNotContain("x-forwarded-proto", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AccessLog_RequestedServerName_IsTheClientsSni_AndEmptyInPlaintext()
    {
        var tlsPath = "/sni-log-" + Guid.NewGuid().ToString("N");
        var plainPath = "/sni-log-plain-" + Guid.NewGuid().ToString("N");
        using (var client = Client("x.b.example.com", _ => { }))
        {
            using var response = await client.GetAsync(Url("x.b.example.com", tlsPath));
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);
        }

        using (var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Port}/"), Timeout = TimeSpan.FromSeconds(10) })
        {
            using var response = await plain.GetAsync(plainPath);
            await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);
        }

        // %REQUESTED_SERVER_NAME% is the SNI of the connection (Envoy's requested server name); "-" without TLS.
        var lines = Array.Empty<string>();
        await Polling.UntilAsync(
            () =>
            {
                lines = System.IO.File.Exists(TlsFixture.AccessLogPath) ? System.IO.File.ReadAllLines(TlsFixture.AccessLogPath) : [];
                return Task.FromResult(Array.Exists(lines, l => l.EndsWith(tlsPath, StringComparison.Ordinal)) && Array.Exists(lines, l => l.EndsWith(plainPath, StringComparison.Ordinal)));
            },
            TimeSpan.FromSeconds(10),
            "both requests in the access log");
        Assert.Contains("x.b.example.com " + tlsPath, lines);
        Assert.Contains("- " + plainPath, lines);
    }

    [Fact]
    public async Task Get_PlaintextOnTheSameListener_StillServed()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Port}/"), Timeout = TimeSpan.FromSeconds(10) };

        using var response = await client.GetAsync("/plain");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        Assert.Contains("\"x-forwarded-proto\":[\"http\"]", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_UpstreamTlsWithClientCertificate_ReachesMutualTlsUpstream()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Port}/"), Timeout = TimeSpan.FromSeconds(10) };

        using var response = await client.GetAsync("/up-tls");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        Assert.Contains("\"label\":\"secure\"", body, StringComparison.Ordinal);
        Assert.Equal("CN=client", fixture.Secure.LastClientCertificateSubject);
        Assert.True(await StatAsync("ssl.handshake", "cluster.upstream_tls.") > 0);
    }

    [Fact]
    public async Task Get_UpstreamTlsHttp2Cluster_NegotiatesH2ByAlpn()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Port}/"), Timeout = TimeSpan.FromSeconds(10) };

        using var response = await client.GetAsync("/up-h2");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        Assert.Contains("\"label\":\"secure\"", body, StringComparison.Ordinal);
        Assert.Contains("\"protocol\":\"HTTP/2\"", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_PermissiveTlsChain_TerminatesTlsWithAnySniWhilePlaintextStaysRaw()
    {
        X509Certificate2? seen = null;
        using var client = Client("unlisted.example.org", certificate => seen = certificate);

        using var response = await client.GetAsync(Url("unlisted.example.org", "/permissive"));
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        // transport_protocol "tls" caught the TLS connection; the plaintext test on the same port keeps the raw chain.
        Assert.Equal(fixture.ServerMtls.Certificate.Thumbprint, seen?.Thumbprint);
        Assert.Contains("\"x-forwarded-proto\":[\"https\"]", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_UpstreamWrongSan_Returns503UfWithTlsReason()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Port}/"), Timeout = TimeSpan.FromSeconds(10) };

        using var response = await client.GetAsync("/up-wrong-san");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, fixture.Proxy);

        Assert.Equal("UF", ProxyAssert.Flags(response));
        Assert.Contains("TLS error", body, StringComparison.Ordinal);
        Assert.True(await StatAsync("ssl.fail_verify_san", "cluster.upstream_wrong_san.") > 0);
    }

    [Fact]
    public async Task Get_UpstreamWrongSanOverHttp2_Returns503UfWithTlsReason()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Port}/"), Timeout = TimeSpan.FromSeconds(10) };

        using var response = await client.GetAsync("/up-wrong-san-h2");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.ServiceUnavailable, response, fixture.Proxy);

        Assert.Equal("UF", ProxyAssert.Flags(response));
        Assert.Contains("TLS error", body, StringComparison.Ordinal);
        Assert.True(await StatAsync("ssl.fail_verify_san", "cluster.upstream_wrong_san_h2.") > 0);
    }

    [Fact]
    public async Task Get_TransportSocketMatches_TlsForIstioEndpointsPlaintextForOthers()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Port}/"), Timeout = TimeSpan.FromSeconds(10) };

        using var tls = await client.GetAsync("/up-match");
        var tlsBody = await ProxyAssert.StatusAsync(HttpStatusCode.OK, tls, fixture.Proxy);
        using var raw = await client.GetAsync("/up-raw");
        var rawBody = await ProxyAssert.StatusAsync(HttpStatusCode.OK, raw, fixture.Proxy);

        Assert.Contains("\"label\":\"secure\"", tlsBody, StringComparison.Ordinal);
        Assert.Contains("\"label\":\"plain\"", rawBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TcpProxy_TlsModeIstioEndpoint_RelaysOverMutualTls()
    {
        _ = fixture.Port;
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.TcpPort}/"), Timeout = TimeSpan.FromSeconds(10) };

        using var response = await client.GetAsync("/tcp-over-tls");
        var body = await ProxyAssert.StatusAsync(HttpStatusCode.OK, response, fixture.Proxy);

        // The HTTPS-only upstream answered the plaintext request: the relay added TLS with the client certificate.
        Assert.Contains("\"label\":\"secure\"", body, StringComparison.Ordinal);
        Assert.Equal("CN=client", fixture.Secure.LastClientCertificateSubject);
    }

    [Fact]
    public async Task Certs_AdminEndpoint_ListsChainsAndCasInEnvoysShape()
    {
        var (status, body) = await fixture.Proxy.AdminGetAsync("/certs");

        Assert.Equal(HttpStatusCode.OK, status);
        using var json = System.Text.Json.JsonDocument.Parse(body);
        var entries = json.RootElement.GetProperty("certificates");

        // Five terminating chains, four upstream TLS clusters and two tlsMode-istio matches.
        Assert.Equal(11, entries.GetArrayLength());
        var serverA = entries[0].GetProperty("cert_chain")[0];
        Assert.Equal(fixture.ServerA.CertificatePath, serverA.GetProperty("path").GetString());
        Assert.Equal(fixture.ServerA.Certificate.SerialNumber.ToLowerInvariant(), serverA.GetProperty("serial_number").GetString());
        Assert.Equal("a.example.com", serverA.GetProperty("subject_alt_names")[0].GetProperty("dns").GetString());
        Assert.Equal("9", serverA.GetProperty("days_until_expiration").GetString());
        Assert.EndsWith("Z", serverA.GetProperty("expiration_time").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, entries[0].GetProperty("ca_cert").GetArrayLength());

        // The wildcard chain's certificate is inline.
        Assert.Equal("<inline>", entries[1].GetProperty("cert_chain")[0].GetProperty("path").GetString());

        var mtls = entries[2];
        Assert.Equal(fixture.Pki.CaPath, mtls.GetProperty("ca_cert")[0].GetProperty("path").GetString());
        var upstream = entries[5].GetProperty("cert_chain")[0];
        Assert.Equal(TlsFixture.ClientSpiffeId, upstream.GetProperty("subject_alt_names")[0].GetProperty("uri").GetString());
    }

    private Uri Url(string host, string path) => new($"https://{host}:{fixture.Port}{path}");

    /// <summary>An HttpClient that connects to the proxy whatever the host name, sending that name as SNI.</summary>
    private HttpClient Client(string serverName, Action<X509Certificate2>? onServerCertificate = null, X509Certificate2? clientCertificate = null)
    {
        var port = fixture.Port;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = TestHttp.ConnectToLoopback(port),
            SslOptions = new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is not null)
                    {
                        onServerCertificate?.Invoke(new X509Certificate2(certificate));
                    }

                    return true;
                },
            },
            PooledConnectionLifetime = TimeSpan.Zero,
        };
        return new HttpClient(handler)
        {
            Timeout = TimeSpan.FromSeconds(10),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
    }

    private async Task<long> StatAsync(string name, string? prefix = null)
    {
        var (_, body) = await fixture.Proxy.AdminGetAsync("/stats");
        var full = (prefix ?? "listener.127.0.0.1_" + fixture.Port + ".") + name + ": ";
        foreach (var line in body.Split('\n'))
        {
            if (line.StartsWith(full, StringComparison.Ordinal))
            {
                return long.Parse(line[full.Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, params string[] arguments) =>
        RunWithInputAsync(file, "", arguments);

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunWithInputAsync(string file, string input, params string[] arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start " + file);
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish in 20 s");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
