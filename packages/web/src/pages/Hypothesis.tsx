// Placeholder: the real page is being built.
export default function HypothesisPage() {
  return <h1>Hypothesis</h1>;
}
