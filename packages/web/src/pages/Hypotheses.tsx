// Placeholder: the real page is being built.
export default function HypothesesPage() {
  return <h1>Hypotheses</h1>;
}
