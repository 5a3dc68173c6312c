// Placeholder: the real page is being built.
export default function RunsPage() {
  return <h1>Runs</h1>;
}
