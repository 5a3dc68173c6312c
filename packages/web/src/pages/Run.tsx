// Placeholder: the real page is being built.
export default function RunPage() {
  return <h1>Run</h1>;
}
