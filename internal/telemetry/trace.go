package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing: a request, the run it starts, the run's steps, the jobs that
// carry it on and the outbound HTTP calls they make are one trace. Spans
// are exported over OTLP/HTTP when an endpoint is configured; without one
// the tracer is a no-op and costs nothing but the trace context itself.

// propagator carries trace context in W3C traceparent/tracestate: in HTTP
// headers, and in job metadata from the transaction that inserts a job to
// the worker that runs it.
var propagator = propagation.TraceContext{}

const tracerName = "github.com/switchboard/switchboard"

// SetTracerProvider makes the node's spans go to tp (nil: no-op).
func (m *Metrics) SetTracerProvider(tp trace.TracerProvider) {
	if m != nil {
		m.tracer = tp.Tracer(tracerName)
	}
}

// Tracer is the node's tracer; a nil Metrics traces nothing.
func (m *Metrics) Tracer() trace.Tracer {
	if m == nil || m.tracer == nil {
		return noop.NewTracerProvider().Tracer(tracerName)
	}
	return m.tracer
}

// Start starts a span as a child of ctx's.
func (m *Metrics) Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return m.Tracer().Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// Inject writes ctx's trace context into carrier (HTTP headers, job
// metadata) so the work it starts continues the trace.
func Inject(ctx context.Context, carrier map[string]string) {
	propagator.Inject(ctx, propagation.MapCarrier(carrier))
}

// Extract returns ctx carrying the trace context of carrier.
func Extract(ctx context.Context, carrier map[string]string) context.Context {
	return propagator.Extract(ctx, propagation.MapCarrier(carrier))
}

// ExtractHTTP returns ctx carrying the trace context of a request's
// traceparent header (a caller's own trace, or none).
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// InjectHTTP writes ctx's trace context into outbound request headers.
func InjectHTTP(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// TraceID is ctx's trace id in hex, "" without a sampled span.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// OTLPProvider exports spans to an OTLP/HTTP collector at endpoint (such
// as http://otel-collector:4318). Shut it down to flush what is batched.
func OTLPProvider(ctx context.Context, endpoint, version string) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	return NewProvider(sdktrace.NewBatchSpanProcessor(exp), version), nil
}

// NewProvider is a tracer provider sending every span to sp.
func NewProvider(sp sdktrace.SpanProcessor, version string) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp), sdktrace.WithResource(resourceFor(version)))
}

// LogHandler adds trace_id to every record logged with a context that
// carries a span, so a log line leads to its trace.
func LogHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (t traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := TraceID(ctx); id != "" {
		r.AddAttrs(slog.String("trace_id", id))
	}
	return t.Handler.Handle(ctx, r)
}

func (t traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{t.Handler.WithAttrs(as)}
}
func (t traceHandler) WithGroup(g string) slog.Handler { return traceHandler{t.Handler.WithGroup(g)} }

func resourceFor(version string) *resource.Resource {
	return resource.NewSchemaless(attribute.String("service.name", "switchboard"), attribute.String("service.version", version))
}
