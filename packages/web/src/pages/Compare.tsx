// Placeholder: the real page is being built.
export default function ComparePage() {
  return <h1>Compare</h1>;
}
